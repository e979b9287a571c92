import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import {
  BatchStream,
  DataError,
  DEBIAN_DATA_DIR,
  FIXTURES_DATA_DIR,
  resolveDataDir,
} from "../lib/data.ts";
import { randomDataset, tempDir, useCpu } from "./helpers.ts";

await useCpu();

Deno.test("resolveDataDir() follows --data, $FASHION_MNIST_DIR, the cache, Debian, then the fixtures", async () => {
  const home = await tempDir();
  const empty = await tempDir();
  // --data wins, and must hold the images.
  assert.deepEqual(
    await resolveDataDir({
      data: FIXTURES_DATA_DIR,
      env: { FASHION_MNIST_DIR: "/elsewhere" },
    }),
    { dir: FIXTURES_DATA_DIR, origin: "--data" },
  );
  await assert.rejects(
    () => resolveDataDir({ data: empty }),
    (e: Error) =>
      e instanceof DataError && /expected train-images/.test(e.message),
  );
  // Then the environment.
  assert.equal(
    (await resolveDataDir({ env: { FASHION_MNIST_DIR: FIXTURES_DATA_DIR } }))
      .origin,
    "FASHION_MNIST_DIR",
  );
  // Then ~/.cache/fashion-mnist.
  await Deno.mkdir(`${home}/.cache/fashion-mnist`, { recursive: true });
  await Deno.copyFile(
    `${FIXTURES_DATA_DIR}/train-images-idx3-ubyte.gz`,
    `${home}/.cache/fashion-mnist/train-images-idx3-ubyte.gz`,
  );
  assert.deepEqual(await resolveDataDir({ env: {}, home }), {
    dir: `${home}/.cache/fashion-mnist`,
    origin: "cache",
  });
  // Then Debian's package, else the fixtures.
  const fallback = await resolveDataDir({ env: {}, home: empty });
  const debian = await Deno.stat(
    `${DEBIAN_DATA_DIR}/train-images-idx3-ubyte.gz`,
  ).then(() => true, () => false);
  assert.equal(fallback.origin, debian ? "debian" : "fixtures");
  await Deno.remove(home, { recursive: true });
  await Deno.remove(empty, { recursive: true });
});

Deno.test("BatchStream yields [-1, 1] batches that visit every image once per epoch", () => {
  const data = randomDataset(20);
  data.images.fill(0, 0, 784); // image 0 all black → -1
  data.images.fill(255, 784, 2 * 784); // image 1 all white → 1
  const stream = new BatchStream(data, { batchSize: 5, seed: 1 });
  const seen: number[] = [];
  for (let b = 0; b < 4; b++) {
    const x = stream.nextPixels();
    assert.equal(x.length, 5 * 784);
    assert.ok(x.every((v) => v >= -1 && v <= 1));
    for (let i = 0; i < 5; i++) seen.push(x[i * 784 + 100]);
  }
  assert.equal(stream.epoch, 0);
  const expected = Array.from(data.images.filter((_, i) => i % 784 === 100))
    .map((p) => Math.fround(p / 127.5 - 1)).sort();
  assert.deepEqual([...seen].sort(), expected);
  stream.nextPixels();
  assert.equal(stream.epoch, 1);
});

Deno.test("BatchStream reshuffles every epoch, with the same order for the same seed", () => {
  const data = randomDataset(10);
  const order = (seed: number) => {
    const s = new BatchStream(data, { batchSize: 10, seed });
    return [s.nextPixels()[0], s.nextPixels()[0], s.nextPixels()[0]].join();
  };
  assert.equal(order(4), order(4));
  const s = new BatchStream(data, { batchSize: 10, seed: 4 });
  const e1 = Array.from(s.nextPixels()), e2 = Array.from(s.nextPixels());
  assert.notDeepEqual(e1, e2, "a new order each epoch");
  assert.deepEqual([...e1].sort(), [...e2].sort(), "the same images");
});

Deno.test("BatchStream.restore() continues exactly where the state was taken", () => {
  const data = randomDataset(30);
  const a = new BatchStream(data, { batchSize: 8, seed: 9 });
  a.nextPixels();
  a.nextPixels();
  const state = structuredClone(a.state);
  const b = new BatchStream(data, { batchSize: 8, seed: 1234 });
  b.restore(state);
  for (let i = 0; i < 6; i++) {
    assert.deepEqual(Array.from(b.nextPixels()), Array.from(a.nextPixels()));
  }
});

Deno.test("BatchStream.next() returns a disposable [m, S, S, 1] tensor, resized when asked", () => {
  const data = randomDataset(8);
  const before = tf.memory().numTensors;
  const x = new BatchStream(data, { batchSize: 4, seed: 1 }).next();
  assert.deepEqual(x.shape, [4, 28, 28, 1]);
  x.dispose();
  const y = new BatchStream(data, { batchSize: 4, seed: 1, outSize: 64 })
    .next();
  assert.deepEqual(y.shape, [4, 64, 64, 1]);
  y.dispose();
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("BatchStream rejects a dataset smaller than one batch", () => {
  assert.throws(
    () => new BatchStream(randomDataset(3), { batchSize: 4, seed: 1 }),
    /Expected at least 4 images for one batch, the dataset has 3/,
  );
});
