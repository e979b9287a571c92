import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { buildClassifier, classify } from "../lib/classifier.ts";
import {
  classifierLogits,
  trainClassifier,
} from "../lib/classifier_training.ts";
import { Rng } from "../lib/random.ts";
import { initWasmBackend } from "../lib/wasm_backend.ts";

async function useBackend(name: "cpu" | "wasm"): Promise<void> {
  tf.enableProdMode();
  if (name === "wasm") await initWasmBackend();
  else await tf.setBackend(name);
  await tf.ready();
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

Deno.test("classifierLogits() computes what the Layers classifier computes, with the same gradients", async () => {
  // cpu has TF.js's stock convolution gradients to compare with.
  await useBackend("cpu");
  const classifier = buildClassifier({ seed: 3 });
  const x = tf.randomUniform(
    [4, 28, 28, 1],
    -1,
    1,
    "float32",
    7,
  ) as tf.Tensor4D;
  const y = tf.oneHot(tf.tensor1d([0, 3, 9, 5], "int32"), 10);
  const vars = classifier.trainableWeights.map((w) => w.read());
  const [, probs] = classify(classifier, x);
  const fast = tf.softmax(classifierLogits(vars, x));
  assert.ok(maxAbsDiff(fast, probs) < 1e-5);

  // Stock TF.js gradients (through the Layers model) against the re-expressed ones.
  const stock = tf.grads((...w: tf.Tensor[]) => {
    void w;
    return tf.losses.softmaxCrossEntropy(
      y,
      tf.log(classifier.apply(x) as tf.Tensor2D),
    );
  })(vars);
  const ours = tf.grads((...w: tf.Tensor[]) =>
    tf.losses.softmaxCrossEntropy(y, classifierLogits(w, x))
  )(vars);
  ours.forEach((g, i) => {
    const scale = tf.tidy(() => tf.max(tf.abs(stock[i])).dataSync()[0]);
    assert.ok(scale > 0, `weight ${i} has a zero gradient`);
    assert.ok(
      maxAbsDiff(g, stock[i]) < 1e-3 * scale + 1e-6,
      `gradient of ${classifier.trainableWeights[i].name} differs`,
    );
  });
  tf.dispose([x, y, probs, fast, ...stock, ...ours]);
  classifier.dispose();
});

Deno.test("trainClassifier() lowers the loss on a small separable task and leaks no tensors", async () => {
  await useBackend("wasm");
  // Two classes: bright top half (label 0) or bright bottom half (label 1).
  const n = 64;
  const rng = new Rng(2);
  const images = new Uint8Array(n * 784);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 2;
    for (let p = 0; p < 784; p++) {
      const top = p < 392;
      images[i * 784 + p] = (top === (labels[i] === 0))
        ? 200 + rng.nextInt(56)
        : rng.nextInt(40);
    }
  }
  const classifier = buildClassifier({ seed: 1 });
  const losses: number[] = [];
  const before = tf.memory().numTensors;
  await trainClassifier(classifier, { images, labels }, {
    epochs: 6,
    batchSize: 16,
    learningRate: 3e-3,
    seed: 1,
    logEvery: 4,
    onLog: ({ loss }) => losses.push(loss),
  });
  assert.equal(tf.memory().numTensors, before);
  assert.ok(
    losses.at(-1)! < 0.5 * losses[0],
    `loss went from ${losses[0]} to ${losses.at(-1)}`,
  );
  classifier.dispose();
});
