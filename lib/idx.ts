/**
 * Reading and writing the IDX format of (Fashion-)MNIST, gzip-compressed or raw.
 *
 * Layout: a big-endian header `[0, 0, type, rank]` (type 0x08 = uint8), then `rank`
 * big-endian uint32 dimensions, then the uint8 payload. Images use magic 2051
 * (rank 3), labels magic 2049 (rank 1).
 *
 * @module
 */

/** Magic number of an IDX image file (uint8, rank 3). */
export const IMAGES_MAGIC = 2051;
/** Magic number of an IDX label file (uint8, rank 1). */
export const LABELS_MAGIC = 2049;

/** A decoded IDX file: its dimensions and its uint8 payload. */
export interface IdxArray {
  /** Magic number from the header (2051 for images, 2049 for labels). */
  magic: number;
  /** Dimensions, e.g. `[60000, 28, 28]`. */
  dims: number[];
  /** Payload, `dims` multiplied out bytes long. */
  data: Uint8Array;
}

/** Error raised for a file that is not a valid IDX file of the expected kind. */
export class IdxFormatError extends Error {
  override name = "IdxFormatError";
}

const GZIP_MAGIC = [0x1f, 0x8b];

/**
 * Decodes IDX bytes (already decompressed) and checks them against `expectedMagic`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeIdx, encodeIdx } from "./idx.ts";
 * const bytes = encodeIdx(2049, [3], new Uint8Array([1, 2, 3]));
 * const idx = decodeIdx(bytes, 2049, "labels");
 * assert.ok(idx.dims[0] === 3);
 * ```
 */
export function decodeIdx(
  bytes: Uint8Array,
  expectedMagic: number,
  name = "IDX file",
): IdxArray {
  if (bytes.length < 8) {
    throw new IdxFormatError(
      `${name}: expected an IDX header of at least 8 bytes, got ${bytes.length}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  if (magic !== expectedMagic) {
    throw new IdxFormatError(
      `${name}: expected IDX magic ${expectedMagic}, got ${magic}`,
    );
  }
  const rank = magic & 0xff;
  const headerLength = 4 + 4 * rank;
  if (bytes.length < headerLength) {
    throw new IdxFormatError(
      `${name}: expected ${rank} dimensions in the header, file ends after ${bytes.length} bytes`,
    );
  }
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i));
  const expected = dims.reduce((a, b) => a * b, 1);
  const actual = bytes.length - headerLength;
  if (actual !== expected) {
    throw new IdxFormatError(
      `${name}: expected ${expected} bytes of data for dimensions ${
        dims.join("x")
      }, got ${actual} (truncated or corrupt)`,
    );
  }
  return { magic, dims, data: bytes.subarray(headerLength) };
}

/**
 * Encodes a uint8 array as IDX bytes (uncompressed).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeIdx } from "./idx.ts";
 * const bytes = encodeIdx(2051, [1, 2, 2], new Uint8Array(4));
 * assert.ok(bytes.length === 16 + 4);
 * ```
 */
export function encodeIdx(
  magic: number,
  dims: number[],
  data: Uint8Array,
): Uint8Array {
  const rank = dims.length;
  if ((magic & 0xff) !== rank) {
    throw new IdxFormatError(
      `Expected magic ${magic} to declare rank ${rank}, it declares ${
        magic & 0xff
      }`,
    );
  }
  const expected = dims.reduce((a, b) => a * b, 1);
  if (data.length !== expected) {
    throw new IdxFormatError(
      `Expected ${expected} bytes for dimensions ${
        dims.join("x")
      }, got ${data.length}`,
    );
  }
  const out = new Uint8Array(4 + 4 * rank + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, magic);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  out.set(data, 4 + 4 * rank);
  return out;
}

/** Reads a stream to the end into one Uint8Array. */
async function readAll(
  stream: ReadableStream<Uint8Array>,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of stream) {
    chunks.push(chunk);
    total += chunk.length;
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

/**
 * Reads an IDX file from disk, streaming it through gzip decompression when the
 * name ends in `.gz`, and validates magic number, dimensions and length.
 *
 * Every failure (missing file, not gzip, truncated, wrong magic) is an
 * {@link IdxFormatError} whose message names the file and what was expected.
 */
export async function readIdxFile(
  path: string,
  expectedMagic: number,
): Promise<IdxArray> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new IdxFormatError(`${path}: file not found`);
    }
    throw new IdxFormatError(`${path}: cannot open (${(e as Error).message})`);
  }
  let bytes: Uint8Array;
  if (path.endsWith(".gz")) {
    const head = new Uint8Array(2);
    const n = await file.read(head);
    await file.seek(0, Deno.SeekMode.Start);
    if (n !== 2 || head[0] !== GZIP_MAGIC[0] || head[1] !== GZIP_MAGIC[1]) {
      file.close();
      throw new IdxFormatError(
        `${path}: expected a gzip file (starting 1f 8b), it is not gzip`,
      );
    }
    try {
      bytes = await readAll(
        file.readable.pipeThrough(new DecompressionStream("gzip")),
      );
    } catch (e) {
      throw new IdxFormatError(
        `${path}: expected a complete gzip stream, decompression failed (${
          (e as Error).message
        })`,
      );
    }
  } else {
    bytes = await readAll(file.readable);
  }
  return decodeIdx(bytes, expectedMagic, path);
}

/** Gzip-compresses bytes with the platform's CompressionStream. */
export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  return await readAll(
    new Blob([bytes as BlobPart]).stream().pipeThrough(
      new CompressionStream("gzip"),
    ),
  );
}
