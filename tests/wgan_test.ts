import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { RmsProp } from "../lib/rmsprop.ts";
import {
  clipWeights,
  criticIterations,
  criticLoss,
  generatorLoss,
  trainableVariables,
  wassersteinEstimate,
  Wgan,
} from "../lib/wgan.ts";
import { BatchStream } from "../lib/data.ts";
import {
  maxAbs,
  randomDataset,
  tinyConfig,
  tinyModels,
  useCpu,
} from "./helpers.ts";

await useCpu();

function scalar(t: tf.Tensor): number {
  const v = t.dataSync()[0];
  t.dispose();
  return v;
}

Deno.test("criticLoss() is 0 when real and fake scores are identical", () => {
  const scores = tf.tensor1d([0.3, -1.2, 4]);
  assert.equal(scalar(criticLoss(scores, scores)), 0);
  scores.dispose();
});

Deno.test("criticLoss() flips sign when real and fake scores are swapped", () => {
  const real = tf.tensor1d([1, 2, 3]), fake = tf.tensor1d([0.5, -1, 0]);
  const a = scalar(criticLoss(real, fake)), b = scalar(criticLoss(fake, real));
  assert.ok(Math.abs(a) > 0.1);
  assert.ok(Math.abs(a + b) < 1e-6);
  assert.ok(Math.abs(a - (-0.5 / 3 - 2)) < 1e-6); // mean f(G(z)) − mean f(x)
  tf.dispose([real, fake]);
});

Deno.test("criticLoss() equals minus wassersteinEstimate()", () => {
  const real = tf.tensor1d([0.2, 0.7]), fake = tf.tensor1d([-0.4, 0.1]);
  const loss = scalar(criticLoss(real, fake));
  const w = scalar(wassersteinEstimate(real, fake));
  assert.ok(Math.abs(loss + w) < 1e-7);
  assert.ok(Math.abs(w - 0.6) < 1e-6);
  tf.dispose([real, fake]);
});

Deno.test("generatorLoss() is minus the mean critic score of the fakes", () => {
  const fake = tf.tensor2d([[1], [2], [6]]);
  assert.ok(Math.abs(scalar(generatorLoss(fake)) + 3) < 1e-6);
  fake.dispose();
});

Deno.test("critic loss gradients of a linear critic match the hand computation", () => {
  // f(x) = w·x + b, loss = mean(w·fake + b) − mean(w·real + b):
  // d/dw = mean(fake) − mean(real), d/db = 0.
  const w = tf.variable(tf.tensor2d([[0.5], [-1]]));
  const b = tf.variable(tf.scalar(0.3));
  const real = tf.tensor2d([[1, 2], [3, 4]]);
  const fake = tf.tensor2d([[0, 1], [2, -1]]);
  const f = (x: tf.Tensor2D) => tf.add(tf.matMul(x, w), b);
  const { value, grads } = tf.variableGrads(
    () => criticLoss(f(real), f(fake)),
    [w, b],
  );
  assert.deepEqual(Array.from(grads[w.name].dataSync()), [-1, -3]);
  assert.equal(grads[b.name].dataSync()[0], 0);
  // loss = (0.5·1 − 1·0) − (0.5·2 − 1·3) = 0.5 − (−2) = 2.5
  assert.ok(Math.abs(value.dataSync()[0] - 2.5) < 1e-6);
  tf.dispose([w, b, real, fake, value, ...Object.values(grads)]);
});

Deno.test("clipWeights() keeps every weight in [-c, c] and leaves values inside unchanged", () => {
  const v = tf.variable(tf.tensor1d([-0.5, -0.01, 0.003, 0.0099, 0.02, 7]));
  clipWeights([v], 0.01);
  assert.deepEqual(
    Array.from(v.dataSync()),
    Array.from(new Float32Array([-0.01, -0.01, 0.003, 0.0099, 0.01, 0.01])),
  );
  v.dispose();
});

Deno.test("RmsProp.step() matches the RMSProp formula on a hand example", () => {
  const w = tf.variable(tf.tensor1d([1, -2]));
  const opt = new RmsProp([w], { lr: 0.1, alpha: 0.9, eps: 1e-8 });
  const g1 = tf.tensor1d([2, 0.5]), g2 = tf.tensor1d([-1, 1]);
  opt.step([g1]);
  // ms = 0.1·g²; w -= 0.1·g/√ms
  let ms = [0.1 * 4, 0.1 * 0.25];
  let expected = [
    1 - 0.1 * 2 / Math.sqrt(ms[0]),
    -2 - 0.1 * 0.5 / Math.sqrt(ms[1]),
  ];
  Array.from(w.dataSync()).forEach((v, i) =>
    assert.ok(Math.abs(v - expected[i]) < 1e-5, `step 1 [${i}]: ${v}`)
  );
  opt.step([g2]);
  ms = [0.9 * ms[0] + 0.1 * 1, 0.9 * ms[1] + 0.1 * 1];
  expected = [
    expected[0] + 0.1 / Math.sqrt(ms[0]),
    expected[1] - 0.1 / Math.sqrt(ms[1]),
  ];
  Array.from(w.dataSync()).forEach((v, i) =>
    assert.ok(Math.abs(v - expected[i]) < 1e-5, `step 2 [${i}]: ${v}`)
  );
  assert.equal(opt.steps, 2);
  opt.dispose();
  tf.dispose([w, g1, g2]);
});

Deno.test("RmsProp with clipValue clips after the update", () => {
  const w = tf.variable(tf.tensor1d([0.009, -0.009]));
  const opt = new RmsProp([w], { lr: 0.1, clipValue: 0.01 });
  const g = tf.tensor1d([-1, 1]);
  opt.step([g]); // the raw update would move both far outside [-0.01, 0.01]
  assert.deepEqual(
    Array.from(w.dataSync()),
    Array.from(new Float32Array([0.01, -0.01])),
  );
  opt.dispose();
  tf.dispose([w, g]);
});

function tinyWgan(overrides = {}) {
  const config = tinyConfig(overrides);
  const wgan = new Wgan(config, tinyModels(config));
  const stream = new BatchStream(randomDataset(64), {
    batchSize: config.batch,
    seed: 3,
  });
  return { config, wgan, stream };
}

Deno.test("Wgan.trainIteration() leaves every critic variable in [-c, c] after every critic update, and never clips the generator", () => {
  const { config, wgan, stream } = tinyWgan();
  // Start the generator far outside the box: clipping it would be visible.
  for (const v of trainableVariables(wgan.generator)) {
    tf.tidy(() => v.assign(tf.add(v, 0.5)));
  }
  const critic = trainableVariables(wgan.critic);
  assert.ok(maxAbs(critic) > config.clip, "N(0, 0.02) init exceeds c");
  let calls = 0;
  const checkedBatch = () => {
    // Called before each critic update: from the second on, one update has just run.
    if (calls++ > 0) assert.ok(maxAbs(critic) <= config.clip + 1e-9);
    return stream.next();
  };
  for (let i = 0; i < 2; i++) {
    const losses = wgan.trainIteration(checkedBatch);
    tf.dispose([losses.criticLoss, losses.generatorLoss]);
    assert.ok(maxAbs(critic) <= config.clip + 1e-9);
  }
  const names = wgan.critic.trainableWeights.map((w) => w.name).join();
  assert.match(names, /kernel/);
  assert.match(names, /bias/);
  assert.ok(maxAbs(trainableVariables(wgan.generator)) > 0.4);
  wgan.dispose();
});

Deno.test("Wgan.trainIteration() makes exactly nCritic critic updates per generator update", () => {
  for (const nCritic of [1, 3, 5]) {
    const { wgan, stream } = tinyWgan({ nCritic });
    let batches = 0;
    for (let i = 0; i < 2; i++) {
      const losses = wgan.trainIteration(() => (batches++, stream.next()));
      tf.dispose([losses.criticLoss, losses.generatorLoss]);
    }
    assert.equal(wgan.criticOptimizer.steps, 2 * nCritic);
    assert.equal(wgan.generatorOptimizer.steps, 2);
    assert.equal(batches, 2 * nCritic, "a fresh real batch per critic update");
    wgan.dispose();
  }
});

Deno.test("criticIterations() follows the reference warm-up schedule only when asked", () => {
  const off = { nCritic: 5, criticWarmup: false };
  const on = { nCritic: 5, criticWarmup: true };
  assert.deepEqual([0, 24, 25, 500].map((i) => criticIterations(off, i)), [
    5,
    5,
    5,
    5,
  ]);
  assert.deepEqual(
    [0, 24, 25, 499, 500, 1000].map((i) => criticIterations(on, i)),
    [100, 100, 5, 5, 100, 100],
  );
});

async function lossesOf(seed: number, iterations: number): Promise<number[]> {
  const config = tinyConfig({ seed });
  const wgan = new Wgan(config, tinyModels(config));
  const stream = new BatchStream(randomDataset(64), {
    batchSize: 8,
    seed,
  });
  const out: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const l = wgan.trainIteration(() => stream.next());
    out.push((await l.criticLoss.data())[0], (await l.generatorLoss.data())[0]);
    tf.dispose([l.criticLoss, l.generatorLoss]);
  }
  wgan.dispose();
  return out;
}

Deno.test("the same seed gives the same losses, another seed different ones", async () => {
  const a = await lossesOf(7, 3), b = await lossesOf(7, 3);
  const c = await lossesOf(8, 3);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

Deno.test("Wgan.trainIteration() keeps the tensor count flat across steps", () => {
  const { wgan, stream } = tinyWgan();
  const step = () => {
    const l = wgan.trainIteration(() => stream.next());
    tf.dispose([l.criticLoss, l.generatorLoss]);
  };
  step(); // warm-up: optimizer state and caches are allocated
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) step();
  assert.equal(tf.memory().numTensors, before);
  wgan.dispose();
});

Deno.test("Wgan.dispose() frees the models and optimizer state", () => {
  const before = tf.memory().numTensors;
  const { wgan } = tinyWgan();
  assert.ok(tf.memory().numTensors > before);
  wgan.dispose();
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("the dcgan28 critic's clipped variables include every kernel and bias", () => {
  const config = tinyConfig({ arch: "dcgan28" });
  const wgan = new Wgan(config);
  const names = wgan.critic.trainableWeights.map((w) => w.name);
  assert.equal(names.length, 6); // 2 conv kernels + biases, dense kernel + bias
  clipWeights(trainableVariables(wgan.critic), config.clip);
  assert.ok(maxAbs(trainableVariables(wgan.critic)) <= config.clip);
  assert.ok(wgan.generator instanceof tfl.LayersModel);
  wgan.dispose();
});
