/**
 * A least-recently-used cache bounded by bytes, for responses that a request
 * fully determines (a seeded `/sample`, an `/interpolate` strip). Concurrent
 * misses on one key share one computation.
 *
 * @module
 */

/** Options for {@link ByteCache}. */
export interface ByteCacheOptions<V> {
  /** Most bytes held; 0 holds nothing (concurrent misses still share one computation). */
  maxBytes: number;
  /** The size of a value in bytes. */
  sizeOf: (value: V) => number;
}

/**
 * An LRU map from string keys to values, evicting the least recently used
 * once the values' total size passes `maxBytes`. A value larger than
 * `maxBytes` is returned but not kept.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ByteCache } from "./serving_cache.ts";
 * const cache = new ByteCache<Uint8Array>({ maxBytes: 4, sizeOf: (v) => v.length });
 * let made = 0;
 * const make = () => (made++, Promise.resolve(new Uint8Array(3)));
 * await cache.getOrCreate("a", make);
 * await cache.getOrCreate("a", make);
 * assert.ok(made === 1 && cache.hits === 1 && cache.bytes === 3);
 * ```
 */
export class ByteCache<V> {
  #options: ByteCacheOptions<V>;
  #entries = new Map<string, { value: V; size: number }>();
  #pending = new Map<string, Promise<V>>();
  /** Bytes held now. */
  bytes = 0;
  /** Lookups answered from the cache (or from a computation already running). */
  hits = 0;
  /** Lookups that had to compute. */
  misses = 0;

  constructor(options: ByteCacheOptions<V>) {
    if (!(options.maxBytes >= 0)) {
      throw new RangeError(
        `Expected maxBytes of 0 or more, got ${options.maxBytes}`,
      );
    }
    this.#options = options;
  }

  /** Number of values held. */
  get size(): number {
    return this.#entries.size;
  }

  /** The value for `key`, marked as most recently used; undefined if absent. */
  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.value;
  }

  /** Stores `value` under `key`, evicting the least recently used as needed. */
  set(key: string, value: V): void {
    const old = this.#entries.get(key);
    if (old) {
      this.#entries.delete(key);
      this.bytes -= old.size;
    }
    const size = this.#options.sizeOf(value);
    if (size > this.#options.maxBytes) return;
    this.#entries.set(key, { value, size });
    this.bytes += size;
    for (const [oldest, entry] of this.#entries) {
      if (this.bytes <= this.#options.maxBytes) break;
      this.#entries.delete(oldest);
      this.bytes -= entry.size;
    }
  }

  /**
   * The value for `key`, computed by `make` on a miss and then kept. Callers
   * that miss while `make` runs for the same key share its result; a failure
   * is passed to them and not kept.
   */
  getOrCreate(key: string, make: () => Promise<V>): Promise<V> {
    const cached = this.get(key);
    if (cached !== undefined) {
      this.hits++;
      return Promise.resolve(cached);
    }
    const running = this.#pending.get(key);
    if (running) {
      this.hits++;
      return running;
    }
    this.misses++;
    const made = make().then(
      (value) => {
        this.#pending.delete(key);
        this.set(key, value);
        return value;
      },
      (error) => {
        this.#pending.delete(key);
        throw error;
      },
    );
    this.#pending.set(key, made);
    return made;
  }
}
