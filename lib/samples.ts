/**
 * Reading images to evaluate from anywhere: an IDX ubyte file of 28x28 images
 * (raw or gzip-compressed, whatever its name) or a folder of 28x28 PNGs.
 *
 * @module
 */
import { decode } from "fast-png";
import { decodeIdx, IMAGES_MAGIC } from "./idx.ts";

/** Images read for evaluation, as uint8 pixels (0 = background). */
export interface SampleImages {
  /** Number of images. */
  count: number;
  /** Pixels, `count * 784` bytes. */
  pixels: Uint8Array;
  /** What was read, for the report: "IDX file" or "N PNG files". */
  kind: string;
}

/** Error for a samples file or folder that is missing or not 28x28 images. */
export class SamplesError extends Error {
  override name = "SamplesError";
}

async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(
    new DecompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * Decodes IDX image bytes (raw, or gzip when they start with 1f 8b) holding
 * 28x28 images.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeIdx } from "./idx.ts";
 * import { decodeSampleIdx } from "./samples.ts";
 * const bytes = encodeIdx(2051, [2, 28, 28], new Uint8Array(2 * 784));
 * assert.ok((await decodeSampleIdx(bytes, "x.idx")).count === 2);
 * ```
 */
export async function decodeSampleIdx(
  bytes: Uint8Array,
  name: string,
): Promise<SampleImages> {
  let raw = bytes;
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      raw = await gunzip(bytes);
    } catch (e) {
      throw new SamplesError(
        `${name}: expected a complete gzip stream (${(e as Error).message})`,
      );
    }
  }
  let idx;
  try {
    idx = decodeIdx(raw, IMAGES_MAGIC, name);
  } catch (e) {
    throw new SamplesError((e as Error).message);
  }
  const [count, h, w] = idx.dims;
  if (h !== 28 || w !== 28) {
    throw new SamplesError(
      `${name}: expected 28x28 images, got ${idx.dims.join("x")}`,
    );
  }
  return { count, pixels: idx.data, kind: "IDX file" };
}

/** One 28x28 PNG as 784 gray pixels (colour images are averaged to gray). */
function pngToGray(bytes: Uint8Array, name: string): Uint8Array {
  let png;
  try {
    png = decode(bytes);
  } catch (e) {
    throw new SamplesError(`${name}: expected a PNG (${(e as Error).message})`);
  }
  if (png.width !== 28 || png.height !== 28) {
    throw new SamplesError(
      `${name}: expected a 28x28 image, got ${png.width}x${png.height}`,
    );
  }
  const channels = png.channels;
  const colour = channels >= 3 ? 3 : 1;
  const max = png.depth === 16 ? 65535 : (1 << png.depth) - 1;
  const out = new Uint8Array(784);
  for (let i = 0; i < 784; i++) {
    let sum = 0;
    for (let c = 0; c < colour; c++) sum += png.data[i * channels + c];
    out[i] = Math.round((sum / colour) * 255 / max);
  }
  return out;
}

/**
 * Reads images to evaluate from `path`: an IDX ubyte file (raw or gzip) or a
 * folder of 28x28 PNG files (read in name order).
 *
 * @example
 * ```ts ignore
 * import { readSamples } from "./samples.ts";
 * const samples = await readSamples("runs/a/samples_000500.idx");
 * console.log(samples.count);
 * ```
 */
export async function readSamples(path: string): Promise<SampleImages> {
  let info;
  try {
    info = await Deno.stat(path);
  } catch {
    throw new SamplesError(
      `${path}: not found (expected an IDX file or a folder of PNGs)`,
    );
  }
  if (info.isFile) {
    return await decodeSampleIdx(await Deno.readFile(path), path);
  }
  const names: string[] = [];
  for await (const entry of Deno.readDir(path)) {
    if (entry.isFile && entry.name.toLowerCase().endsWith(".png")) {
      names.push(entry.name);
    }
  }
  if (names.length === 0) {
    throw new SamplesError(
      `${path}: expected PNG files in the folder, found none`,
    );
  }
  names.sort();
  const pixels = new Uint8Array(names.length * 784);
  for (let i = 0; i < names.length; i++) {
    const file = `${path}/${names[i]}`;
    pixels.set(pngToGray(await Deno.readFile(file), file), i * 784);
  }
  return { count: names.length, pixels, kind: `${names.length} PNG files` };
}
