import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { FIXTURES_DATA_DIR, loadFashionMnist } from "../lib/data.ts";
import {
  classifierAccuracy,
  evaluateGenerator,
  evaluateSource,
  loadClassifier,
  pixelSource,
  referenceStatistics,
  summarizePredictions,
  uniformNoiseSource,
} from "../lib/evaluate.ts";
import { buildGenerator } from "../lib/models.ts";
import { loadLayersModel } from "../lib/model_io.ts";
import { initWasmBackend } from "../lib/wasm_backend.ts";

async function useWasm(): Promise<void> {
  tf.enableProdMode();
  await initWasmBackend();
}

/** One row of 10 probabilities with `top` on class `c` and the rest spread evenly. */
function prediction(c: number, top: number): number[] {
  return Array.from({ length: 10 }, (_, k) => k === c ? top : (1 - top) / 9);
}

Deno.test("summarizePredictions() counts a class as covered from 3% of the predicted labels", () => {
  // 100 predictions: class 0 ×60, 1 ×30, 2 ×3 (exactly 3%), 3 ×2 (below), 4 ×5.
  const plan: [number, number, number][] = [
    [0, 60, 0.95],
    [1, 30, 0.5],
    [2, 3, 0.9], // exactly 0.9 is not "above 0.9"
    [3, 2, 0.99],
    [4, 5, 0.3],
  ];
  const rows = plan.flatMap(([c, n, top]) =>
    Array.from({ length: n }, () => prediction(c, top))
  );
  const s = summarizePredictions(rows.flat());
  assert.deepEqual(s.histogram, [60, 30, 3, 2, 5, 0, 0, 0, 0, 0]);
  assert.equal(s.classesCovered, 4);
  const expectedConfidence =
    (60 * 0.95 + 30 * 0.5 + 3 * 0.9 + 2 * 0.99 + 5 * 0.3) / 100;
  assert.ok(Math.abs(s.confidence - expectedConfidence) < 1e-12);
  assert.equal(s.confidentShare, 0.62);
});

Deno.test("summarizePredictions() reports a collapsed set as one class", () => {
  const rows = Array.from({ length: 50 }, () => prediction(7, 0.99)).flat();
  const s = summarizePredictions(rows);
  assert.equal(s.classesCovered, 1);
  assert.equal(s.histogram[7], 50);
  assert.throws(() => summarizePredictions([0.5, 0.5, 0.1]), /rows of 10/);
});

Deno.test("loadClassifier() loads the committed classifier, which labels the fixture test images with ≥ 90% accuracy", async () => {
  await useWasm();
  const classifier = await loadClassifier();
  const test = await loadFashionMnist(FIXTURES_DATA_DIR, "t10k", {
    labels: true,
  });
  assert.ok(test.count >= 1000);
  const accuracy = await classifierAccuracy(
    classifier,
    test.images,
    test.labels!,
  );
  assert.ok(accuracy >= 0.9, `accuracy ${accuracy}`);
});

Deno.test("evaluateSource() puts real images near 0, uniform noise far above, and is deterministic", async () => {
  await useWasm();
  const classifier = await loadClassifier();
  const test = await loadFashionMnist(FIXTURES_DATA_DIR, "t10k", {
    labels: false,
  });
  const train = await loadFashionMnist(FIXTURES_DATA_DIR, "train", {
    labels: false,
  });
  const reference = await referenceStatistics(classifier, test.images);
  const self = await evaluateSource(
    classifier,
    pixelSource(test.images),
    reference,
  );
  assert.ok(self.fid < 1e-6, `test set against itself: ${self.fid}`);
  const real = await evaluateSource(
    classifier,
    pixelSource(train.images.subarray(0, 1000 * 784)),
    reference,
  );
  const again = await evaluateSource(
    classifier,
    pixelSource(train.images.subarray(0, 1000 * 784)),
    reference,
  );
  assert.equal(again.fid, real.fid);
  const noise = await evaluateSource(
    classifier,
    uniformNoiseSource(1000, 1),
    reference,
  );
  assert.equal(real.count, 1000);
  assert.equal(real.classesCovered, 10);
  assert.ok(real.fid < noise.fid / 10, `real ${real.fid}, noise ${noise.fid}`);
  assert.ok(
    real.confidentShare > noise.confidentShare || noise.classesCovered < 10,
  );
});

Deno.test("referenceStatistics() writes its cache once and reads back the same figures", async () => {
  await useWasm();
  const classifier = await loadClassifier();
  const test = await loadFashionMnist(FIXTURES_DATA_DIR, "t10k", {
    labels: false,
  });
  const pixels = test.images.subarray(0, 300 * 784);
  const cacheDir = await Deno.makeTempDir();
  try {
    const first = await referenceStatistics(classifier, pixels, { cacheDir });
    const files = [...Deno.readDirSync(cacheDir)].map((e) => e.name);
    assert.equal(files.length, 1);
    assert.match(files[0], /^fid-reference-[0-9a-f]{16}\.json$/);
    const second = await referenceStatistics(classifier, pixels, { cacheDir });
    assert.equal(second.cached, true);
    assert.deepEqual(second.mean, first.mean);
    assert.deepEqual(second.cov, first.cov);
    assert.equal(second.count, 300);
    await referenceStatistics(classifier, test.images.subarray(0, 200 * 784), {
      cacheDir,
    });
    assert.equal([...Deno.readDirSync(cacheDir)].length, 2);
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("evaluateGenerator() evaluates a fixed, seeded count and leaks no tensors", async () => {
  await useWasm();
  const generator = buildGenerator({
    arch: "dcgan28",
    latentDim: 100,
    seed: 1,
  });
  const test = await loadFashionMnist(FIXTURES_DATA_DIR, "t10k", {
    labels: false,
  });
  const classifier = await loadClassifier();
  const reference = await referenceStatistics(classifier, test.images);
  const options = { count: 64, seed: 4, reference };
  const first = await evaluateGenerator(generator, options);
  const before = tf.memory().numTensors;
  const second = await evaluateGenerator(generator, options);
  assert.equal(tf.memory().numTensors, before);
  assert.equal(second.fid, first.fid);
  assert.equal(first.count, 64);
  assert.ok(Number.isFinite(first.fid) && first.fid > 0);
  assert.equal(first.histogram.reduce((a, b) => a + b, 0), 64);
  generator.dispose();
});

Deno.test("the shipped generator (fixtures/generator) is trained, covers at least nine classes and scores far closer to real images than noise does", async () => {
  await useWasm();
  const dir = new URL("../fixtures/generator", import.meta.url).pathname;
  const provenance = JSON.parse(
    await Deno.readTextFile(`${dir}/PROVENANCE.json`),
  );
  assert.equal(provenance.untrained, false);
  const generator = await loadLayersModel(dir);
  const test = await loadFashionMnist(FIXTURES_DATA_DIR, "t10k", {
    labels: false,
  });
  const classifier = await loadClassifier();
  const reference = await referenceStatistics(classifier, test.images);
  const shipped = await evaluateGenerator(generator, {
    count: 1000,
    seed: 1,
    reference,
  });
  const noise = await evaluateSource(
    classifier,
    uniformNoiseSource(1000, 1),
    reference,
  );
  assert.ok(shipped.classesCovered >= 9, `${shipped.histogram}`);
  assert.ok(
    shipped.fid < noise.fid / 2,
    `shipped ${shipped.fid}, noise ${noise.fid}`,
  );
  generator.dispose();
});
