import assert from "node:assert/strict";
import { interpolateLatents, slerp } from "../lib/slerp.ts";

Deno.test("slerp() starts at a, ends at b and stays on the sphere between", () => {
  const a = new Float32Array([3, 0, 0]), b = new Float32Array([0, 0, 3]);
  assert.deepEqual(slerp(a, b, 0), a);
  assert.deepEqual(slerp(a, b, 1), b);
  for (const t of [0.1, 0.5, 0.9]) {
    const m = slerp(a, b, t);
    assert.ok(Math.abs(Math.hypot(...m) - 3) < 1e-5, `|m(${t})|`);
    assert.ok(Math.abs(Math.atan2(m[2], m[0]) - t * Math.PI / 2) < 1e-5);
  }
  // Parallel vectors: linear interpolation, no NaN.
  const p = slerp(new Float32Array([1, 1]), new Float32Array([2, 2]), 0.5);
  assert.deepEqual([...p], [1.5, 1.5]);
});

Deno.test("interpolateLatents() gives steps vectors from the first to the last", () => {
  const a = new Float32Array([1, 2, 3, 4]), b = new Float32Array([-4, 3, 0, 1]);
  const z = interpolateLatents(a, b, 5);
  assert.equal(z.length, 20);
  assert.deepEqual(z.subarray(0, 4), a);
  assert.deepEqual(z.subarray(16, 20), b);
  assert.deepEqual(z.subarray(8, 12), slerp(a, b, 0.5));
  assert.throws(() => interpolateLatents(a, b, 1), /steps >= 2/);
});
