import assert from "node:assert/strict";
import { MicroBatcher } from "../lib/micro_batch.ts";

Deno.test("MicroBatcher joins concurrent requests into one call and splits the results", async () => {
  const calls: number[] = [];
  const batcher = new MicroBatcher((z, count) => {
    calls.push(count);
    // "image" = the latent value doubled, twice (imageLength 2 per latentDim 1)
    return Promise.resolve(
      Float32Array.from([...z].flatMap((v) => [2 * v, 2 * v])),
    );
  }, { latentDim: 1, imageLength: 2, maxBatch: 8 });
  const results = await Promise.all([
    batcher.generate(new Float32Array([1]), 1),
    batcher.generate(new Float32Array([2, 3]), 2),
    batcher.generate(new Float32Array([4, 5, 6, 7, 8]), 5),
    batcher.generate(new Float32Array([9, 10]), 2), // would exceed maxBatch
  ]);
  assert.deepEqual(calls, [8, 2]);
  assert.deepEqual([...results[0]], [2, 2]);
  assert.deepEqual([...results[1]], [4, 4, 6, 6]);
  assert.deepEqual([...results[2]].length, 10);
  assert.deepEqual([...results[3]], [18, 18, 20, 20]);
  assert.equal(batcher.batches, 2);
  assert.equal(batcher.images, 10);
});

Deno.test("MicroBatcher rejects every request of a failed batch and keeps working", async () => {
  let fail = true;
  const batcher = new MicroBatcher(
    (z) => fail ? Promise.reject(new Error("boom")) : Promise.resolve(z),
    { latentDim: 1, imageLength: 1 },
  );
  const settled = await Promise.allSettled([
    batcher.generate(new Float32Array([1]), 1),
    batcher.generate(new Float32Array([2]), 1),
  ]);
  assert.deepEqual(settled.map((s) => s.status), ["rejected", "rejected"]);
  fail = false;
  assert.deepEqual([...await batcher.generate(new Float32Array([3]), 1)], [3]);
  await assert.rejects(
    batcher.generate(new Float32Array([1, 2]), 1),
    /Expected 1 latent values, got 2/,
  );
});
