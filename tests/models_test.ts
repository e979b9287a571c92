import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { buildCritic, buildGenerator, imageSize } from "../lib/models.ts";
import { useCpu } from "./helpers.ts";

await useCpu();

function trainableCount(model: ReturnType<typeof buildCritic>): number {
  return model.trainableWeights.reduce(
    (n, w) => n + (w.shape as number[]).reduce((a, b) => a * b, 1),
    0,
  );
}

Deno.test("dcgan28 has the PyTorch reference's architecture S, parameter for parameter", () => {
  const options = { arch: "dcgan28" as const, latentDim: 100, seed: 1 };
  const g = buildGenerator(options), f = buildCritic(options);
  // Counted from the reference's nn.Sequential: Linear(100, 6272, bias=False), BN(128),
  // ConvTranspose2d(128, 64, 4, bias=False), BN(64), ConvTranspose2d(64, 1, 4).
  assert.equal(trainableCount(g), 627200 + 256 + 131072 + 128 + 1025);
  // Conv2d(1, 64, 4), Conv2d(64, 128, 4), Linear(6272, 1).
  assert.equal(trainableCount(f), 1088 + 131200 + 6273);
  // No sigmoid at the critic's end, tanh at the generator's.
  const last = f.layers[f.layers.length - 1].getConfig();
  assert.equal(last.activation, "linear");
  assert.equal(g.layers[g.layers.length - 1].getConfig().activation, "tanh");
  g.dispose();
  f.dispose();
});

Deno.test("every architecture maps z to images in [-1, 1] and images to one score each", () => {
  for (const arch of ["dcgan28", "dcgan64", "mlp"] as const) {
    const options = { arch, latentDim: 16, seed: 2 };
    const g = buildGenerator(options), f = buildCritic(options);
    const size = imageSize(arch);
    tf.tidy(() => {
      const images = g.predict(tf.randomNormal([2, 16])) as tf.Tensor;
      assert.deepEqual(images.shape, [2, size, size, 1], arch);
      const v = images.dataSync();
      assert.ok(v.every((p) => p >= -1 && p <= 1), arch);
      assert.deepEqual((f.predict(images) as tf.Tensor).shape, [2, 1], arch);
    });
    g.dispose();
    f.dispose();
  }
});

Deno.test("weights are initialised N(0, 0.02), reproducibly from the seed", () => {
  const a = buildCritic({ arch: "dcgan28", latentDim: 100, seed: 5 });
  const b = buildCritic({ arch: "dcgan28", latentDim: 100, seed: 5 });
  const kernel = a.trainableWeights[2].read(); // second conv's kernel
  const values = Array.from(kernel.dataSync() as Float32Array);
  const mean = values.reduce((s, x) => s + x, 0) / values.length;
  const std = Math.sqrt(
    values.reduce((s, x) => s + (x - mean) ** 2, 0) / values.length,
  );
  assert.ok(
    Math.abs(mean) < 1e-3 && Math.abs(std - 0.02) < 2e-3,
    `${mean} ${std}`,
  );
  assert.deepEqual(
    Array.from(b.trainableWeights[2].read().dataSync()),
    values,
  );
  a.dispose();
  b.dispose();
});
