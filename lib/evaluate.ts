/**
 * Sample quality: the domain classifier's features and predictions for a set of
 * images, summarised as the Fréchet distance to the test set (FID on the
 * classifier's features), class coverage and confidence.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import { classify, FEATURE_DIM, NUM_CLASSES } from "./classifier.ts";
import { loadFashionMnist, resolveDataDir } from "./data.ts";
import {
  type FeatureStatistics,
  featureStatistics,
  frechetDistance,
} from "./fid.ts";
import { loadLayersModel } from "./model_io.ts";
import { latentNoise, Rng } from "./random.ts";
import { writeFileAtomic } from "./atomic.ts";

/** Folder of the committed classifier. */
export const DEFAULT_CLASSIFIER_DIR = new URL(
  "../fixtures/classifier",
  import.meta.url,
).pathname;

/** A class counts as covered when it receives at least this share of the predicted labels. */
export const COVERAGE_THRESHOLD = 0.03;
/** A sample counts as confident when its top-class probability is above this. */
export const CONFIDENT_THRESHOLD = 0.9;

/** A fixed, indexable set of images `[n, 28, 28, 1]` in [-1, 1], produced batch by batch. */
export interface ImageSource {
  /** Number of images. */
  count: number;
  /** Images `start .. start + size - 1` as a new tensor the caller disposes. */
  batch(start: number, size: number): tf.Tensor4D;
}

/** Class coverage and confidence of a set of predictions. */
export interface ClassSummary {
  /** Classes receiving ≥ 3% of the predicted labels (10 = no mode collapse). */
  classesCovered: number;
  /** Number of images predicted as each class. */
  histogram: number[];
  /** Mean top-class probability. */
  confidence: number;
  /** Share of images whose top-class probability is above 0.9. */
  confidentShare: number;
}

/** What `deno task eval` reports for a set of images. */
export interface QualityReport extends ClassSummary {
  /** Fréchet distance to the test set's classifier features. */
  fid: number;
  /** Number of images evaluated (the FID depends on it). */
  count: number;
  /** Number of test images the reference statistics come from. */
  referenceCount: number;
}

/** The classifier's outputs for every image of a source. */
export interface ClassifierOutputs {
  /** Number of images. */
  count: number;
  /** Features, `count x 128`, row-major. */
  features: Float32Array;
  /** Class probabilities, `count x 10`, row-major. */
  probabilities: Float32Array;
}

/**
 * Images from uint8 pixels (`n * 784` bytes, 0 = background), scaled to [-1, 1].
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pixelSource } from "./evaluate.ts";
 * const source = pixelSource(new Uint8Array(2 * 784));
 * assert.ok(source.count === 2);
 * ```
 */
export function pixelSource(pixels: Uint8Array): ImageSource {
  if (pixels.length % 784 !== 0) {
    throw new Error(
      `Expected a multiple of 784 pixels (28x28 images), got ${pixels.length}`,
    );
  }
  return {
    count: pixels.length / 784,
    batch(start, size) {
      const values = new Float32Array(size * 784);
      const offset = start * 784;
      for (let i = 0; i < values.length; i++) {
        values[i] = pixels[offset + i] / 127.5 - 1;
      }
      return tf.tensor4d(values, [size, 28, 28, 1]);
    },
  };
}

/**
 * `count` images of independent uniform noise in [-1, 1] (the ceiling row),
 * the same for the same seed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { uniformNoiseSource } from "./evaluate.ts";
 * assert.ok(uniformNoiseSource(5, 1).count === 5);
 * ```
 */
export function uniformNoiseSource(count: number, seed: number): ImageSource {
  const pixels = new Uint8Array(count * 784);
  const rng = new Rng(seed);
  for (let i = 0; i < pixels.length; i++) pixels[i] = rng.nextInt(256);
  return pixelSource(pixels);
}

/**
 * `count` images drawn from a generator `z [B, latentDim] → [B, 28, 28, 1]` with
 * the latent vectors of `latentNoise(count, latentDim, seed)`.
 *
 * @example
 * ```ts ignore
 * import { generatorSource } from "./evaluate.ts";
 * const source = generatorSource(generator, { count: 1000, seed: 1 });
 * ```
 */
export function generatorSource(
  generator: tfl.LayersModel,
  options: { count: number; seed: number },
): ImageSource {
  const latentDim = generator.inputs[0].shape[1];
  const out = generator.outputs[0].shape;
  if (typeof latentDim !== "number" || out[1] !== 28 || out[2] !== 28) {
    throw new Error(
      `Expected a generator z [B, latentDim] → [B, 28, 28, 1], got [${
        generator.inputs[0].shape.join(", ")
      }] → [${out.join(", ")}]`,
    );
  }
  const z = latentNoise(options.count, latentDim, options.seed);
  return {
    count: options.count,
    batch(start, size) {
      return tf.tidy(() => {
        const zb = tf.tensor2d(
          z.subarray(start * latentDim, (start + size) * latentDim),
          [size, latentDim],
        );
        const images = generator.predict(zb) as tf.Tensor4D;
        return tf.reshape(images, [size, 28, 28, 1]) as tf.Tensor4D;
      });
    },
  };
}

/**
 * Runs the classifier over a source in batches and gathers its features and
 * probabilities. Deterministic for a given source, classifier and backend.
 *
 * @example
 * ```ts ignore
 * import { pixelSource, runClassifier } from "./evaluate.ts";
 * const out = await runClassifier(classifier, pixelSource(pixels));
 * console.log(out.features.length / 128);
 * ```
 */
export async function runClassifier(
  classifier: tfl.LayersModel,
  source: ImageSource,
  options: { batchSize?: number } = {},
): Promise<ClassifierOutputs> {
  const batchSize = options.batchSize ?? 250;
  const features = new Float32Array(source.count * FEATURE_DIM);
  const probabilities = new Float32Array(source.count * NUM_CLASSES);
  for (let start = 0; start < source.count; start += batchSize) {
    const size = Math.min(batchSize, source.count - start);
    const [f, p] = tf.tidy(() =>
      classify(classifier, source.batch(start, size))
    );
    features.set(await f.data() as Float32Array, start * FEATURE_DIM);
    probabilities.set(await p.data() as Float32Array, start * NUM_CLASSES);
    tf.dispose([f, p]);
  }
  return { count: source.count, features, probabilities };
}

/**
 * Class histogram, coverage (classes with ≥ 3% of the predicted labels) and
 * confidence of row-major class probabilities (`n x numClasses`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { summarizePredictions } from "./evaluate.ts";
 * const s = summarizePredictions([0.95, 0.05, 0.2, 0.8], 2);
 * assert.ok(s.classesCovered === 2 && s.confidentShare === 0.5);
 * ```
 */
export function summarizePredictions(
  probabilities: ArrayLike<number>,
  numClasses: number = NUM_CLASSES,
): ClassSummary {
  const n = probabilities.length / numClasses;
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(
      `Expected rows of ${numClasses} probabilities, got ${probabilities.length} values`,
    );
  }
  const histogram = new Array<number>(numClasses).fill(0);
  let confidenceSum = 0;
  let confident = 0;
  for (let r = 0; r < n; r++) {
    let best = 0;
    for (let c = 1; c < numClasses; c++) {
      if (
        probabilities[r * numClasses + c] > probabilities[r * numClasses + best]
      ) best = c;
    }
    const top = probabilities[r * numClasses + best];
    histogram[best]++;
    confidenceSum += top;
    if (top > CONFIDENT_THRESHOLD) confident++;
  }
  return {
    classesCovered: histogram.filter((k) => k >= COVERAGE_THRESHOLD * n).length,
    histogram,
    confidence: confidenceSum / n,
    confidentShare: confident / n,
  };
}

/**
 * Evaluates a source against reference statistics (normally the test set's):
 * FID on the classifier's features, coverage and confidence.
 *
 * @example
 * ```ts ignore
 * import { evaluateSource, pixelSource } from "./evaluate.ts";
 * const report = await evaluateSource(classifier, pixelSource(pixels), reference);
 * console.log(report.fid, report.classesCovered);
 * ```
 */
export async function evaluateSource(
  classifier: tfl.LayersModel,
  source: ImageSource,
  reference: FeatureStatistics,
  options: { batchSize?: number } = {},
): Promise<QualityReport> {
  if (source.count < 2) {
    throw new Error(
      `Expected at least 2 images to evaluate, got ${source.count}`,
    );
  }
  const out = await runClassifier(classifier, source, options);
  const stats = featureStatistics(out.features, FEATURE_DIM);
  return {
    fid: frechetDistance(stats, reference),
    count: out.count,
    referenceCount: reference.count,
    ...summarizePredictions(out.probabilities),
  };
}

/**
 * Share of labelled images (uint8 pixels and labels) the classifier labels correctly.
 *
 * @example
 * ```ts ignore
 * import { classifierAccuracy } from "./evaluate.ts";
 * console.log(await classifierAccuracy(classifier, test.images, test.labels));
 * ```
 */
export async function classifierAccuracy(
  classifier: tfl.LayersModel,
  pixels: Uint8Array,
  labels: Uint8Array,
): Promise<number> {
  const out = await runClassifier(classifier, pixelSource(pixels));
  if (labels.length !== out.count) {
    throw new Error(
      `Expected ${out.count} labels, one per image, got ${labels.length}`,
    );
  }
  let correct = 0;
  for (let r = 0; r < out.count; r++) {
    let best = 0;
    for (let c = 1; c < NUM_CLASSES; c++) {
      if (
        out.probabilities[r * NUM_CLASSES + c] >
          out.probabilities[r * NUM_CLASSES + best]
      ) best = c;
    }
    if (best === labels[r]) correct++;
  }
  return correct / out.count;
}

const classifiers = new Map<string, Promise<tfl.LayersModel>>();

/**
 * Loads a classifier (the committed one by default), once per folder and process.
 *
 * @example
 * ```ts ignore
 * import { loadClassifier } from "./evaluate.ts";
 * const classifier = await loadClassifier();
 * ```
 */
export function loadClassifier(
  dir: string = DEFAULT_CLASSIFIER_DIR,
): Promise<tfl.LayersModel> {
  let model = classifiers.get(dir);
  if (!model) {
    model = loadLayersModel(dir);
    classifiers.set(dir, model);
    model.catch(() => classifiers.delete(dir));
  }
  return model;
}

async function digestHex(parts: Uint8Array[]): Promise<string> {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const all = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    all.set(p, offset);
    offset += p.length;
  }
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return Array.from(hash.slice(0, 8), (b) => b.toString(16).padStart(2, "0"))
    .join("");
}

const statisticsMemo = new Map<string, FeatureStatistics>();

/**
 * Feature statistics of a set of reference images (normally the test set),
 * computed once: kept in memory for the process and, with `cacheDir`, in a file
 * named after a digest of the classifier's weights and the pixels, so that a
 * different classifier or data set never reuses stale figures.
 *
 * @example
 * ```ts ignore
 * import { referenceStatistics } from "./evaluate.ts";
 * const ref = await referenceStatistics(classifier, test.images, { cacheDir: ".cache/fid" });
 * console.log(ref.count);
 * ```
 */
export async function referenceStatistics(
  classifier: tfl.LayersModel,
  pixels: Uint8Array,
  options: { cacheDir?: string } = {},
): Promise<FeatureStatistics & { cached: boolean }> {
  const weights = classifier.getWeights().map((w) =>
    new Uint8Array((w.dataSync() as Float32Array).slice().buffer)
  );
  const key = await digestHex([...weights, pixels]);
  const memo = statisticsMemo.get(key);
  if (memo) return { ...memo, cached: true };
  const file = options.cacheDir
    ? `${options.cacheDir}/fid-reference-${key}.json`
    : undefined;
  if (file) {
    try {
      const stats = JSON.parse(await Deno.readTextFile(file));
      if (
        stats.dim === FEATURE_DIM && stats.count === pixels.length / 784 &&
        stats.cov?.length === FEATURE_DIM * FEATURE_DIM
      ) {
        statisticsMemo.set(key, stats);
        return { ...stats, cached: true };
      }
    } catch {
      // No usable cache: compute below.
    }
  }
  const out = await runClassifier(classifier, pixelSource(pixels));
  const stats = featureStatistics(out.features, FEATURE_DIM);
  statisticsMemo.set(key, stats);
  if (file) {
    try {
      await Deno.mkdir(options.cacheDir!, { recursive: true });
      await writeFileAtomic(file, JSON.stringify(stats));
    } catch {
      // A cache that cannot be written only costs time.
    }
  }
  return { ...stats, cached: false };
}

/** Options of {@link evaluateGenerator}. */
export interface EvaluateGeneratorOptions {
  /** Number of images to draw (the FID depends on it: always report it). */
  count: number;
  /** Seed of the latent vectors. */
  seed: number;
  /** Classifier to use (default: the committed one). */
  classifier?: tfl.LayersModel;
  /** Reference statistics (default: the test set found by `resolveDataDir`). */
  reference?: FeatureStatistics;
  /** Folder holding `t10k-images-idx3-ubyte.gz` for the default reference. */
  dataDir?: string;
  /** Folder for the cached reference statistics. */
  cacheDir?: string;
}

/**
 * Draws `count` images from a generator and evaluates them against the test
 * set: `{ fid, count, classesCovered, histogram, confidence, confidentShare }`.
 * Used by training's `--eval-every` at a small fixed count.
 *
 * @example
 * ```ts ignore
 * import { evaluateGenerator } from "./evaluate.ts";
 * const { fid, classesCovered } = await evaluateGenerator(generator, { count: 1000, seed: 1 });
 * ```
 */
export async function evaluateGenerator(
  generator: tfl.LayersModel,
  options: EvaluateGeneratorOptions,
): Promise<QualityReport> {
  const classifier = options.classifier ?? await loadClassifier();
  let reference = options.reference;
  if (!reference) {
    const dir = options.dataDir ??
      (await resolveDataDir({ split: "t10k" })).dir;
    const test = await loadFashionMnist(dir, "t10k", { labels: false });
    reference = await referenceStatistics(classifier, test.images, {
      cacheDir: options.cacheDir,
    });
  }
  return await evaluateSource(
    classifier,
    generatorSource(generator, options),
    reference,
  );
}
