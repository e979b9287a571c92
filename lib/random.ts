/**
 * A small seeded random number generator whose whole state is four numbers, so
 * that a training run can store it in a checkpoint and resume exactly.
 *
 * The generator is xoshiro128** (Blackman and Vigna), seeded through splitmix32.
 *
 * @module
 */

/** Serializable state of a {@link Rng}. */
export type RngState = [number, number, number, number];

/**
 * Seeded pseudo-random generator (xoshiro128**).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "./random.ts";
 * const a = new Rng(42), b = new Rng(42);
 * assert.ok(a.next() === b.next());
 * ```
 */
export class Rng {
  #s: Uint32Array;

  constructor(seed: number | RngState) {
    this.#s = new Uint32Array(4);
    if (Array.isArray(seed)) {
      this.#s.set(seed);
    } else {
      // splitmix32 expands one seed into four well-mixed words.
      let x = seed >>> 0;
      for (let i = 0; i < 4; i++) {
        x = (x + 0x9e3779b9) >>> 0;
        let z = x;
        z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
        z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
        this.#s[i] = (z ^ (z >>> 16)) >>> 0;
      }
    }
    if (this.#s.every((v) => v === 0)) this.#s[0] = 1;
  }

  /** The state, to store and pass back to the constructor later. */
  get state(): RngState {
    return [this.#s[0], this.#s[1], this.#s[2], this.#s[3]];
  }

  /** Next uint32. */
  nextUint32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  nextInt(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Fills `out` with standard normal samples (Box-Muller). */
  fillNormal(out: Float32Array): Float32Array {
    for (let i = 0; i < out.length; i += 2) {
      const u1 = 1 - this.next(); // (0, 1]: log is finite
      const u2 = this.next();
      const r = Math.sqrt(-2 * Math.log(u1));
      out[i] = r * Math.cos(2 * Math.PI * u2);
      if (i + 1 < out.length) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
    }
    return out;
  }

  /** Shuffles `array` in place (Fisher-Yates) and returns it. */
  shuffle<T extends { length: number; [i: number]: unknown }>(array: T): T {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const tmp = array[i];
      array[i] = array[j];
      array[j] = tmp;
    }
    return array;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * Standard normal latent vectors `[n, latentDim]` for a given seed, as a flat array.
 *
 * The same seed always gives the same vectors; the server and the fixed sample
 * grids use this.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { latentNoise } from "./random.ts";
 * const z = latentNoise(4, 100, 7);
 * assert.ok(z.length === 400);
 * ```
 */
export function latentNoise(
  n: number,
  latentDim: number,
  seed: number,
): Float32Array {
  return new Rng(seed).fillNormal(new Float32Array(n * latentDim));
}
