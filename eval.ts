/**
 * Measures sample quality with the domain classifier: FID against the test set,
 * class coverage and confidence, beside reference rows at the same count.
 *
 *   deno task eval --model DIR [--count 10000] [--seed 1]
 *   deno task eval --samples FILE|DIR [--count N]   (IDX ubyte, raw or .gz; or PNGs)
 *     [--data DIR] [--classifier DIR] [--backend wasm|blas|cpu|webgpu|auto]
 *     [--no-reference] [--cache DIR]
 *
 * Prints a table, then one JSON line with the figures for the evaluated images.
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "./lib/backend.ts";
import { type BackendName, BACKENDS } from "./lib/config.ts";
import { CLASS_NAMES, loadFashionMnist, resolveDataDir } from "./lib/data.ts";
import {
  DEFAULT_CLASSIFIER_DIR,
  evaluateSource,
  generatorSource,
  type ImageSource,
  loadClassifier,
  pixelSource,
  type QualityReport,
  referenceStatistics,
  uniformNoiseSource,
} from "./lib/evaluate.ts";
import { loadLayersModel } from "./lib/model_io.ts";
import { Rng } from "./lib/random.ts";
import { readSamples } from "./lib/samples.ts";
import { parseIntFlag } from "./lib/cli.ts";

const DEFAULT_COUNT = 10_000; // the test set's size: the usual FID count

function fail(message: string, code = 1): never {
  console.error(`eval: ${message}`);
  Deno.exit(code);
}

function positiveInt(name: string, text: string): number {
  try {
    return parseIntFlag(name, text);
  } catch (e) {
    fail((e as Error).message, 2);
  }
}

const OPTIONS = {
  model: { type: "string" },
  samples: { type: "string" },
  count: { type: "string" },
  seed: { type: "string", default: "1" },
  data: { type: "string" },
  classifier: { type: "string", default: DEFAULT_CLASSIFIER_DIR },
  backend: { type: "string", default: "wasm" },
  "no-reference": { type: "boolean", default: false },
  cache: { type: "string" },
} as const;

function parse() {
  try {
    return parseArgs({ args: Deno.args, options: OPTIONS, strict: true })
      .values;
  } catch (e) {
    fail((e as Error).message, 2);
  }
}
const values = parse();
if ((values.model === undefined) === (values.samples === undefined)) {
  fail("expected exactly one of --model DIR or --samples FILE|DIR", 2);
}
if (!(BACKENDS as readonly string[]).includes(values.backend)) {
  fail(
    `expected --backend ${BACKENDS.join(", ")}, got ${values.backend}`,
    2,
  );
}
const seed = Number(values.seed);
if (!Number.isInteger(seed) || seed < 0) {
  fail(`expected --seed to be a non-negative integer, got ${values.seed}`, 2);
}
const requestedCount = values.count === undefined
  ? undefined
  : positiveInt("count", values.count);

function cacheDir(): string | undefined {
  if (values.cache) return values.cache;
  const env = Deno.env.toObject();
  const base = env.XDG_CACHE_HOME ??
    (env.HOME ? `${env.HOME}/.cache` : undefined);
  return base ? `${base}/fashion-mnist-eval` : undefined;
}

function percent(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

function row(name: string, r: QualityReport): string {
  return `| ${name.padEnd(28)} | ${String(r.count).padStart(6)} | ${
    r.fid.toFixed(2).padStart(8)
  } | ${`${r.classesCovered}/10`.padStart(7)} | ${
    r.confidence.toFixed(3).padStart(10)
  } | ${percent(r.confidentShare).padStart(6)} |`;
}

try {
  await initBackend(values.backend as BackendName);
  const t0 = performance.now();

  // What to evaluate.
  let source: ImageSource;
  let label: string;
  let origin: string;
  if (values.model !== undefined) {
    let dir = values.model;
    try {
      await Deno.stat(`${dir}/model.json`);
    } catch {
      // A run folder holding generator/model.json works too.
      try {
        await Deno.stat(`${dir}/generator/model.json`);
        dir = `${dir}/generator`;
      } catch { /* loadLayersModel reports the missing file */ }
    }
    const generator = await loadLayersModel(dir);
    const count = requestedCount ?? DEFAULT_COUNT;
    source = generatorSource(generator, { count, seed });
    label = "generator";
    origin =
      `${count} images from the generator in ${dir}, latent seed ${seed}`;
  } else {
    const samples = await readSamples(values.samples!);
    const count = requestedCount ?? samples.count;
    if (count > samples.count) {
      fail(
        `--count ${count}: expected at most the ${samples.count} images in ${values.samples}`,
        2,
      );
    }
    source = pixelSource(samples.pixels.subarray(0, count * 784));
    label = values.samples!.split("/").filter((s) => s).pop()!.slice(0, 28);
    origin =
      `${count} of the ${samples.count} images in ${values.samples} (${samples.kind})`;
  }

  // The reference: the test set's classifier features.
  const classifier = await loadClassifier(values.classifier);
  const data = await resolveDataDir({
    data: values.data,
    env: Deno.env.toObject(),
    split: "t10k",
  });
  const test = await loadFashionMnist(data.dir, "t10k", { labels: false });
  const reference = await referenceStatistics(classifier, test.images, {
    cacheDir: cacheDir(),
  });
  console.log(`eval: ${origin}`);
  console.log(
    `reference: ${test.count} test images from ${data.dir} (${data.origin}), statistics ${
      reference.cached ? "cached" : "computed"
    }; classifier ${values.classifier}; backend ${tf.getBackend()}`,
  );

  const report = await evaluateSource(classifier, source, reference);
  const rows: [string, QualityReport][] = [[label, report]];
  let realFid: number | undefined;
  let noiseFid: number | undefined;
  if (!values["no-reference"]) {
    const train = await loadFashionMnist(data.dir, "train", { labels: false })
      .catch(() => undefined);
    if (train && train.count >= report.count) {
      const order = new Rng(seed).shuffle(
        Array.from({ length: train.count }, (_, i) => i),
      );
      const pixels = new Uint8Array(report.count * 784);
      for (let i = 0; i < report.count; i++) {
        pixels.set(
          train.images.subarray(order[i] * 784, order[i] * 784 + 784),
          i * 784,
        );
      }
      const real = await evaluateSource(
        classifier,
        pixelSource(pixels),
        reference,
      );
      realFid = real.fid;
      rows.push(["real training images (floor)", real]);
    }
    const noise = await evaluateSource(
      classifier,
      uniformNoiseSource(report.count, seed),
      reference,
    );
    noiseFid = noise.fid;
    rows.push(["uniform noise (ceiling)", noise]);
  }

  console.log(
    `| ${
      "images".padEnd(28)
    } |  count |      FID | classes | confidence |  >0.9 |`,
  );
  console.log(
    `|${"-".repeat(30)}|-------:|---------:|--------:|-----------:|------:|`,
  );
  for (const [name, r] of rows) console.log(row(name, r));
  console.log(
    `classes (${label}): ${
      report.histogram.map((k, c) =>
        `${CLASS_NAMES[c]} ${percent(k / report.count)}`
      )
        .join(", ")
    }`,
  );
  const seconds = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({
    fid: Number(report.fid.toFixed(3)),
    count: report.count,
    classesCovered: report.classesCovered,
    histogram: report.histogram,
    confidence: Number(report.confidence.toFixed(4)),
    confidentShare: Number(report.confidentShare.toFixed(4)),
    referenceCount: report.referenceCount,
    realFid: realFid === undefined ? null : Number(realFid.toFixed(3)),
    noiseFid: noiseFid === undefined ? null : Number(noiseFid.toFixed(3)),
    source: values.model ?? values.samples,
    seed,
    backend: tf.getBackend(),
    seconds: Number(seconds.toFixed(1)),
  }));
} catch (e) {
  fail((e as Error).message);
}
