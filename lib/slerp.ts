/**
 * Spherical interpolation between latent vectors (White, "Sampling Generative
 * Networks", 2016): Gaussian latents lie near a sphere, and a straight line
 * between two of them passes through the unlikely region near the origin.
 *
 * @module
 */

/**
 * Spherical linear interpolation from `a` (t = 0) to `b` (t = 1). Falls back
 * to linear interpolation when the vectors are (nearly) parallel.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { slerp } from "./slerp.ts";
 * const m = slerp(new Float32Array([1, 0]), new Float32Array([0, 1]), 0.5);
 * assert.ok(Math.abs(m[0] - Math.SQRT1_2) < 1e-6);
 * ```
 */
export function slerp(
  a: Float32Array,
  b: Float32Array,
  t: number,
): Float32Array {
  if (a.length !== b.length) {
    throw new RangeError(
      `Expected vectors of equal length, got ${a.length} and ${b.length}`,
    );
  }
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  const cos = Math.min(1, Math.max(-1, dot / Math.sqrt(na * nb)));
  const omega = Math.acos(cos);
  const sin = Math.sin(omega);
  let wa = 1 - t, wb = t;
  if (sin > 1e-6) {
    wa = Math.sin((1 - t) * omega) / sin;
    wb = Math.sin(t * omega) / sin;
  }
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = wa * a[i] + wb * b[i];
  return out;
}

/**
 * `steps` latent vectors walking from `from` to `to` (both included) along
 * {@link slerp}, as one flat array `[steps, from.length]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { interpolateLatents } from "./slerp.ts";
 * const z = interpolateLatents(new Float32Array([1, 0]), new Float32Array([0, 1]), 3);
 * assert.ok(z.length === 6 && z[0] === 1 && z[5] === 1);
 * ```
 */
export function interpolateLatents(
  from: Float32Array,
  to: Float32Array,
  steps: number,
): Float32Array {
  if (!Number.isInteger(steps) || steps < 2) {
    throw new RangeError(`Expected an integer steps >= 2, got ${steps}`);
  }
  const out = new Float32Array(steps * from.length);
  for (let k = 0; k < steps; k++) {
    out.set(slerp(from, to, k / (steps - 1)), k * from.length);
  }
  return out;
}
