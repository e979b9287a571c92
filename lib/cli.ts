/**
 * Parsing flag values for the entry points. Pure: errors are thrown as
 * {@link UsageError}, and the entry point prints them and exits with code 2.
 *
 * @module
 */

/** A bad flag or flag value: the CLI prints the message and exits with code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * Parses a flag's value as an integer ≥ `min` (default 1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseIntFlag } from "./cli.ts";
 * assert.ok(parseIntFlag("batch", "64") === 64);
 * ```
 */
export function parseIntFlag(flag: string, text: string, min = 1): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new UsageError(
      `--${flag}: expected ${
        min === 1
          ? "a positive integer"
          : min === 0
          ? "a non-negative integer"
          : `an integer ≥ ${min}`
      }, got "${text}"`,
    );
  }
  return n;
}
