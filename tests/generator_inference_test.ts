import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { buildGenerator } from "../lib/models.ts";
import { compileGenerator } from "../lib/generator_inference.ts";

tf.enableProdMode();
await tf.setBackend("cpu");

/** A dcgan28 generator whose batch norms hold non-trivial statistics, as after training. */
function trainedLikeGenerator() {
  const g = buildGenerator({ arch: "dcgan28", latentDim: 100, seed: 3 });
  for (const layer of g.layers) {
    if (layer.getClassName() !== "BatchNormalization") continue;
    layer.setWeights(tf.tidy(() =>
      layer.getWeights().map((w, i) =>
        i === 3 // moving variance must stay positive
          ? tf.add(tf.abs(tf.randomNormal(w.shape, 0, 1, "float32", 7)), 0.5)
          : tf.randomNormal(w.shape, 0, 0.3, "float32", 8 + i)
      )
    ));
  }
  return g;
}

for (const form of ["subpixel", "transposed"] as const) {
  Deno.test(`compileGenerator({ form: "${form}" }) matches model.predict on a dcgan28 generator`, async () => {
    const g = trainedLikeGenerator();
    const fast = compileGenerator(g, { form });
    assert.ok(fast, "expected dcgan28 to compile");
    const z = tf.randomNormal([5, 100], 0, 1, "float32", 1) as tf.Tensor2D;
    const expected = g.predict(z) as tf.Tensor;
    const actual = fast.predict(z);
    assert.deepEqual(actual.shape, [5, 28, 28, 1]);
    const diff = (await tf.max(tf.abs(tf.sub(expected, actual))).data())[0];
    assert.ok(diff < 1e-5, `max |difference| ${diff}`);
    assert.ok((await tf.moments(expected).variance.data())[0] > 1e-4);
    tf.dispose([z, expected, actual]);
    fast.dispose();
    g.dispose();
  });
}

Deno.test("compileGenerator() gives each image the same values whatever the batch", async () => {
  const g = trainedLikeGenerator();
  const fast = compileGenerator(g)!;
  const z = tf.randomNormal([6, 100], 0, 1, "float32", 2) as tf.Tensor2D;
  const all = await fast.predict(z).data();
  const part = await fast.predict(tf.slice(z, [2, 0], [3, 100])).data();
  assert.deepEqual(part, all.slice(2 * 784, 5 * 784));
  tf.dispose([z]);
  fast.dispose();
  g.dispose();
});

Deno.test("compileGenerator() returns undefined for other architectures", () => {
  for (const arch of ["mlp", "dcgan64"] as const) {
    const g = buildGenerator({ arch, latentDim: 16, seed: 1 });
    assert.equal(compileGenerator(g), undefined, arch);
    g.dispose();
  }
});

Deno.test("compileGenerator() keeps tf.memory().numTensors flat in either form", () => {
  for (const form of ["subpixel", "transposed"] as const) {
    const g = trainedLikeGenerator();
    const before = tf.memory().numTensors;
    const fast = compileGenerator(g, { form })!;
    const z = tf.randomNormal([2, 100]) as tf.Tensor2D;
    tf.dispose(fast.predict(z)); // warm-up
    const warm = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) tf.dispose(fast.predict(z));
    assert.equal(tf.memory().numTensors, warm);
    z.dispose();
    fast.dispose();
    assert.equal(tf.memory().numTensors, before);
    g.dispose();
  }
});
