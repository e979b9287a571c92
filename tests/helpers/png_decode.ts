/**
 * A strict reader for the PNG files the server writes (8-bit grayscale, no
 * interlacing), for tests: checks the signature, chunk CRCs and the IHDR
 * fields, and returns the pixels.
 *
 * @module
 */
import { crc32, type GrayImage, PNG_SIGNATURE } from "../../lib/png.ts";

/** Width and height from the IHDR chunk, without decoding the pixels. */
export function pngSize(png: Uint8Array): { width: number; height: number } {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/**
 * Decodes an 8-bit grayscale PNG; throws on anything else or on a bad CRC.
 *
 * @example
 * ```ts ignore
 * const { pixels, width, height } = await decodeGrayPng(bytes);
 * ```
 */
export async function decodeGrayPng(png: Uint8Array): Promise<GrayImage> {
  if (!PNG_SIGNATURE.every((b, i) => png[i] === b)) {
    throw new Error("Expected the PNG signature");
  }
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let offset = 8, width = 0, height = 0;
  const idat: Uint8Array[] = [];
  const types: string[] = [];
  while (offset < png.length) {
    const length = view.getUint32(offset);
    const type = String.fromCharCode(...png.subarray(offset + 4, offset + 8));
    const data = png.subarray(offset + 8, offset + 8 + length);
    const crc = view.getUint32(offset + 8 + length);
    if (crc !== crc32(png.subarray(offset + 4, offset + 8 + length))) {
      throw new Error(`Bad CRC in chunk ${type}`);
    }
    types.push(type);
    if (type === "IHDR") {
      width = view.getUint32(offset + 8);
      height = view.getUint32(offset + 12);
      const [depth, colour, compression, filter, interlace] = data.subarray(8);
      if (depth !== 8 || colour !== 0 || compression || filter || interlace) {
        throw new Error("Expected an 8-bit grayscale, non-interlaced PNG");
      }
    } else if (type === "IDAT") idat.push(data);
    offset += 12 + length;
  }
  if (types[0] !== "IHDR" || types.at(-1) !== "IEND") {
    throw new Error(`Expected IHDR first and IEND last, got ${types}`);
  }
  const stream = new Blob(idat as Uint8Array<ArrayBuffer>[]).stream()
    .pipeThrough(new DecompressionStream("deflate"));
  const raw = new Uint8Array(await new Response(stream).arrayBuffer());
  if (raw.length !== (width + 1) * height) {
    throw new Error(`Expected ${(width + 1) * height} bytes of scanlines`);
  }
  const pixels = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    if (raw[y * (width + 1)] !== 0) throw new Error("Expected filter type 0");
    pixels.set(
      raw.subarray(y * (width + 1) + 1, (y + 1) * (width + 1)),
      y * width,
    );
  }
  return { pixels, width, height };
}
