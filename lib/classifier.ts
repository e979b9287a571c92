/**
 * The domain classifier used to measure sample quality: a small CNN trained on
 * Fashion-MNIST whose 128-unit penultimate layer supplies the features for the
 * Fréchet distance and whose softmax supplies class predictions.
 *
 * Inputs are images `[B, 28, 28, 1]` in [-1, 1], the generator's output range
 * (dataset pixels p map to p / 127.5 - 1).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";

/** Number of classes in Fashion-MNIST. */
export const NUM_CLASSES = 10;
/** Width of the feature layer the Fréchet distance is computed on. */
export const FEATURE_DIM = 128;
/** Name of the penultimate (feature) layer. */
export const FEATURE_LAYER = "features";

/**
 * Builds the classifier: conv 3x3 (32) + ReLU + max-pool, conv 3x3 (64) + ReLU
 * + max-pool, dense 128 + ReLU (the features), dense 10 + softmax.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { buildClassifier } from "./classifier.ts";
 * const c = buildClassifier({ seed: 1 });
 * assert.ok(c.outputs[0].shape[1] === 10);
 * c.dispose();
 * ```
 */
export function buildClassifier(
  options: { seed?: number } = {},
): tfl.LayersModel {
  let seed = (options.seed ?? 0) * 100 + 1;
  const init = () => tfl.initializers.glorotUniform({ seed: seed++ });
  const m = tfl.sequential({ name: "classifier" });
  m.add(tfl.layers.conv2d({
    name: "conv1",
    inputShape: [28, 28, 1],
    filters: 32,
    kernelSize: 3,
    activation: "relu",
    kernelInitializer: init(),
  })); // [B, 26, 26, 32]
  m.add(tfl.layers.maxPooling2d({ name: "pool1", poolSize: 2 })); // [B, 13, 13, 32]
  m.add(tfl.layers.conv2d({
    name: "conv2",
    filters: 64,
    kernelSize: 3,
    activation: "relu",
    kernelInitializer: init(),
  })); // [B, 11, 11, 64]
  m.add(tfl.layers.maxPooling2d({ name: "pool2", poolSize: 2 })); // [B, 5, 5, 64]
  m.add(tfl.layers.flatten({ name: "flatten" })); // [B, 1600]
  m.add(tfl.layers.dense({
    name: FEATURE_LAYER,
    units: FEATURE_DIM,
    activation: "relu",
    kernelInitializer: init(),
  })); // [B, 128]
  m.add(tfl.layers.dense({
    name: "probabilities",
    units: NUM_CLASSES,
    activation: "softmax",
    kernelInitializer: init(),
  })); // [B, 10]
  return m;
}

// One two-output view per classifier, built once: it shares the classifier's layers.
const views = new WeakMap<tfl.LayersModel, tfl.LayersModel>();

function featureView(classifier: tfl.LayersModel): tfl.LayersModel {
  let view = views.get(classifier);
  if (!view) {
    let features: tfl.SymbolicTensor;
    try {
      features = classifier.getLayer(FEATURE_LAYER)
        .output as tfl.SymbolicTensor;
    } catch {
      throw new Error(
        `Expected a classifier with a layer named "${FEATURE_LAYER}", it has none`,
      );
    }
    view = tfl.model({
      inputs: classifier.inputs,
      outputs: [features, classifier.outputs[0]],
    });
    views.set(classifier, view);
  }
  return view;
}

/**
 * Runs the classifier on a batch and returns `[features [B, 128], probabilities [B, 10]]`.
 * The caller owns (and disposes) both tensors.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { buildClassifier, classify } from "./classifier.ts";
 * const c = buildClassifier();
 * const [features, probs] = classify(c, tf.zeros([2, 28, 28, 1]));
 * assert.ok(features.shape[1] === 128 && probs.shape[1] === 10);
 * tf.dispose([features, probs]);
 * c.dispose();
 * ```
 */
export function classify(
  classifier: tfl.LayersModel,
  images: tf.Tensor4D,
): [tf.Tensor2D, tf.Tensor2D] {
  const view = featureView(classifier);
  return view.predict(images) as [tf.Tensor2D, tf.Tensor2D];
}

/**
 * Converts uint8 pixels (`n * 784` bytes, 0 = background) into a `[n, 28, 28, 1]`
 * tensor in [-1, 1], the classifier's (and the generator's) range.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { pixelsToTensor } from "./classifier.ts";
 * const t = pixelsToTensor(new Uint8Array(784).fill(255));
 * assert.ok(t.shape[0] === 1);
 * t.dispose();
 * ```
 */
export function pixelsToTensor(pixels: Uint8Array): tf.Tensor4D {
  if (pixels.length % 784 !== 0) {
    throw new Error(
      `Expected a multiple of 784 pixels (28x28 images), got ${pixels.length}`,
    );
  }
  const values = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) values[i] = pixels[i] / 127.5 - 1;
  return tf.tensor4d(values, [pixels.length / 784, 28, 28, 1]);
}
