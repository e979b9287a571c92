import assert from "node:assert/strict";
import {
  crc32,
  encodePng,
  encodePngSync,
  gridShape,
  PNG_SIGNATURE,
  tileImages,
  toUint8,
} from "../lib/png.ts";
import { decodeGrayPng, pngSize } from "./helpers/png_decode.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("crc32() matches the standard check values", () => {
  assert.equal(crc32(enc("123456789")), 0xcbf43926);
  assert.equal(crc32(enc("IEND")), 0xae426082);
  assert.equal(crc32(new Uint8Array(0)), 0);
});

Deno.test("toUint8() maps [-1, 1] to [0, 255] and clamps outside", () => {
  const out = toUint8(new Float32Array([-1, -0.5, 0, 0.5, 1, -3, 2, NaN]));
  assert.deepEqual([...out], [0, 64, 128, 191, 255, 0, 255, 0]);
});

Deno.test("gridShape() is near-square and holds every image", () => {
  for (let n = 1; n <= 256; n++) {
    const { cols, rows } = gridShape(n);
    assert.ok(cols * rows >= n, `n=${n}`);
    assert.ok(cols - rows <= 1 && cols >= rows, `n=${n}: ${cols}x${rows}`);
    assert.ok((rows - 1) * cols < n, `n=${n}: an empty row`);
  }
  assert.deepEqual(gridShape(64), { cols: 8, rows: 8 });
});

Deno.test("tileImages() places each image in its cell with a gutter between", () => {
  const size = 3, count = 5;
  // Image i is filled with the value 10 * (i + 1).
  const images = new Uint8Array(count * size * size);
  for (let i = 0; i < count; i++) {
    images.fill(10 * (i + 1), i * size * size, (i + 1) * size * size);
  }
  const grid = tileImages(images, count, { size, gutter: 1, gutterValue: 7 });
  assert.equal(grid.width, 3 * 3 + 2);
  assert.equal(grid.height, 2 * 3 + 1);
  const at = (x: number, y: number) => grid.pixels[y * grid.width + x];
  assert.equal(at(0, 0), 10);
  assert.equal(at(3, 0), 7); // gutter column
  assert.equal(at(4, 0), 20);
  assert.equal(at(10, 2), 30);
  assert.equal(at(0, 3), 7); // gutter row
  assert.equal(at(0, 4), 40);
  assert.equal(at(4, 6), 50);
  assert.equal(at(8, 6), 7); // empty cell
});

Deno.test("tileImages() upscales by nearest neighbour, gutter included", () => {
  const image = new Uint8Array([1, 2, 3, 4]); // 2x2
  const one = tileImages(image, 1, { size: 2, scale: 3 });
  assert.equal(one.width, 6);
  assert.deepEqual([...one.pixels.subarray(0, 6)], [1, 1, 1, 2, 2, 2]);
  assert.deepEqual([...one.pixels.subarray(30, 36)], [3, 3, 3, 4, 4, 4]);
  const two = tileImages(
    new Uint8Array([...image, ...image]),
    2,
    { size: 2, scale: 2, gutter: 1 },
  );
  assert.equal(two.width, 2 * 4 + 2);
  assert.equal(two.height, 4);
});

Deno.test("tileImages() rejects a pixel count that does not match", () => {
  assert.throws(
    () => tileImages(new Uint8Array(10), 2, { size: 3 }),
    /Expected 18 pixels/,
  );
});

Deno.test("encodePng() writes a valid grayscale PNG that decodes to the same pixels", async () => {
  const width = 31, height = 17;
  const pixels = new Uint8Array(width * height).map((_, i) => (i * 37) % 256);
  const png = await encodePng({ pixels, width, height });
  assert.deepEqual([...png.subarray(0, 8)], [...PNG_SIGNATURE]);
  assert.equal(new TextDecoder().decode(png.subarray(12, 16)), "IHDR");
  assert.deepEqual(pngSize(png), { width, height });
  const decoded = await decodeGrayPng(png);
  assert.deepEqual(decoded.pixels, pixels);
  // Deflate actually compresses a flat image.
  const flat = await encodePng({
    pixels: new Uint8Array(64 * 64),
    width: 64,
    height: 64,
  });
  assert.ok(flat.length < 200, `${flat.length} bytes`);
});

Deno.test("encodePng() rejects a pixel count that does not match", async () => {
  await assert.rejects(
    encodePng({ pixels: new Uint8Array(5), width: 2, height: 2 }),
    /Expected 4 pixels for 2x2, got 5/,
  );
});

Deno.test("encodePngSync() decodes to the same pixels at every zlib level, smaller at higher levels", async () => {
  const width = 40, height = 40;
  // Smooth rows with some texture: compressible, but not trivially.
  const pixels = new Uint8Array(width * height).map((_, i) =>
    Math.round(128 + 100 * Math.sin(i / 7) + (i % 3) * 5)
  );
  const sizes: number[] = [];
  for (const level of [0, 1, 6, 9]) {
    const png = encodePngSync({ pixels, width, height }, { level });
    assert.deepEqual(
      (await decodeGrayPng(png)).pixels,
      pixels,
      `level ${level}`,
    );
    sizes.push(png.length);
  }
  // Level 0 stores the scanlines: larger than the raw pixels.
  assert.ok(sizes[0] > width * height, `stored ${sizes[0]} bytes`);
  assert.ok(sizes[2] < sizes[0], `level 6 ${sizes[2]} vs stored ${sizes[0]}`);
  assert.deepEqual(
    encodePngSync({ pixels, width, height }),
    await encodePng({ pixels, width, height }),
  );
  assert.throws(
    () => encodePngSync({ pixels, width, height }, { level: 10 }),
    /Expected a zlib level from 0 to 9, got 10/,
  );
});
