/**
 * Atomic file writes: write a temporary file beside the target, then rename it
 * over the target, so that a reader (or a crash) sees the old file or the new
 * one, never half of one.
 *
 * @module
 */

/**
 * Writes `data` to `path` atomically (temporary file in the same folder, then rename).
 *
 * @example
 * ```ts ignore
 * import { writeFileAtomic } from "./atomic.ts";
 * await writeFileAtomic("out/config.json", JSON.stringify({ a: 1 }));
 * ```
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
): Promise<void> {
  const tmp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}
