/**
 * A micro-batching queue: requests that arrive while the generator is busy
 * wait, then run together as one batch, so that a burst of one-image requests
 * costs one generator call instead of many. An idle queue runs a request on
 * the next turn of the event loop.
 *
 * @module
 */

/** Runs the generator on `count` latent vectors (`z` is `[count, latentDim]`). */
export type BatchFn = (z: Float32Array, count: number) => Promise<Float32Array>;

interface Pending {
  z: Float32Array;
  count: number;
  resolve: (images: Float32Array) => void;
  reject: (error: unknown) => void;
}

/** Options for {@link MicroBatcher}. */
export interface MicroBatcherOptions {
  /** Length of one latent vector. */
  latentDim: number;
  /** Output values per image (e.g. 28 * 28). */
  imageLength: number;
  /** Most images in one generator call (a single larger request still runs alone); default 256. */
  maxBatch?: number;
}

/**
 * Queues generator requests and runs them in batches, one batch at a time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MicroBatcher } from "./micro_batch.ts";
 * let calls = 0;
 * const double = (z: Float32Array) => (calls++, Promise.resolve(z.map((v) => 2 * v)));
 * const batcher = new MicroBatcher(double, { latentDim: 1, imageLength: 1 });
 * const [a, b] = await Promise.all([
 *   batcher.generate(new Float32Array([1]), 1),
 *   batcher.generate(new Float32Array([2]), 1),
 * ]);
 * assert.ok(a[0] === 2 && b[0] === 4 && calls === 1);
 * ```
 */
export class MicroBatcher {
  #run: BatchFn;
  #options: Required<MicroBatcherOptions>;
  #queue: Pending[] = [];
  #busy = false;
  /** Generator calls made so far. */
  batches = 0;
  /** Images generated so far. */
  images = 0;

  constructor(run: BatchFn, options: MicroBatcherOptions) {
    this.#run = run;
    this.#options = { maxBatch: 256, ...options };
  }

  /** Generates `count` images from `z` (`[count, latentDim]`); resolves to `[count, imageLength]`. */
  generate(z: Float32Array, count: number): Promise<Float32Array> {
    if (z.length !== count * this.#options.latentDim) {
      return Promise.reject(
        new RangeError(
          `Expected ${
            count * this.#options.latentDim
          } latent values, got ${z.length}`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ z, count, resolve, reject });
      if (!this.#busy) {
        this.#busy = true;
        // One macrotask turn: requests that are already waiting to be read
        // (e.g. those that arrived during the previous batch) join this one.
        setTimeout(() => this.#drain(), 0);
      }
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch: Pending[] = [this.#queue.shift()!];
      let count = batch[0].count;
      while (
        this.#queue.length > 0 &&
        count + this.#queue[0].count <= this.#options.maxBatch
      ) {
        const next = this.#queue.shift()!;
        batch.push(next);
        count += next.count;
      }
      const { latentDim, imageLength } = this.#options;
      const z = new Float32Array(count * latentDim);
      let offset = 0;
      for (const p of batch) {
        z.set(p.z, offset * latentDim);
        offset += p.count;
      }
      try {
        const images = await this.#run(z, count);
        this.batches++;
        this.images += count;
        offset = 0;
        for (const p of batch) {
          p.resolve(
            images.slice(
              offset * imageLength,
              (offset + p.count) * imageLength,
            ),
          );
          offset += p.count;
        }
      } catch (e) {
        for (const p of batch) p.reject(e);
      }
    }
    this.#busy = false;
  }
}
