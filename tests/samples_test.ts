import assert from "node:assert/strict";
import { encode } from "fast-png";
import { encodeIdx, gzip, IMAGES_MAGIC, LABELS_MAGIC } from "../lib/idx.ts";
import { readSamples, SamplesError } from "../lib/samples.ts";

function pattern(count: number): Uint8Array {
  const pixels = new Uint8Array(count * 784);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7) % 256;
  return pixels;
}

Deno.test("readSamples() reads a raw IDX file and a gzipped one, whatever their names", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const pixels = pattern(3);
    const bytes = encodeIdx(IMAGES_MAGIC, [3, 28, 28], pixels);
    await Deno.writeFile(`${dir}/samples_000250.idx`, bytes);
    await Deno.writeFile(`${dir}/samples.idx.gz`, await gzip(bytes));
    await Deno.writeFile(`${dir}/gzipped.idx`, await gzip(bytes));
    for (
      const name of ["samples_000250.idx", "samples.idx.gz", "gzipped.idx"]
    ) {
      const s = await readSamples(`${dir}/${name}`);
      assert.equal(s.count, 3, name);
      assert.deepEqual(s.pixels, pixels, name);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readSamples() reads a folder of 28x28 PNGs in name order", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const gray = pattern(1);
    await Deno.writeFile(
      `${dir}/b.png`,
      encode({ width: 28, height: 28, data: gray, channels: 1, depth: 8 }),
    );
    const rgba = new Uint8Array(784 * 4);
    for (let i = 0; i < 784; i++) rgba.set([200, 200, 200, 255], i * 4);
    await Deno.writeFile(
      `${dir}/a.png`,
      encode({ width: 28, height: 28, data: rgba, channels: 4, depth: 8 }),
    );
    await Deno.writeTextFile(`${dir}/notes.txt`, "not an image");
    const s = await readSamples(dir);
    assert.equal(s.count, 2);
    assert.ok(s.pixels.subarray(0, 784).every((p) => p === 200));
    assert.deepEqual(s.pixels.subarray(784), gray);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readSamples() rejects wrong magic, wrong size, truncation and missing paths with one clear message", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(
      `${dir}/labels.idx`,
      encodeIdx(LABELS_MAGIC, [4], new Uint8Array(4)),
    );
    await Deno.writeFile(
      `${dir}/big.idx`,
      encodeIdx(IMAGES_MAGIC, [1, 32, 32], new Uint8Array(1024)),
    );
    const good = encodeIdx(IMAGES_MAGIC, [2, 28, 28], new Uint8Array(2 * 784));
    await Deno.writeFile(`${dir}/cut.idx`, good.subarray(0, 900));
    await Deno.mkdir(`${dir}/empty`);
    await Deno.writeFile(
      `${dir}/small.png`,
      encode({
        width: 8,
        height: 8,
        data: new Uint8Array(64),
        channels: 1,
        depth: 8,
      }),
    );
    const cases: [string, RegExp][] = [
      [`${dir}/labels.idx`, /expected IDX magic 2051, got 2049/],
      [`${dir}/big.idx`, /expected 28x28 images, got 1x32x32/],
      [`${dir}/cut.idx`, /truncated or corrupt/],
      [`${dir}/missing.idx`, /not found/],
      [`${dir}/empty`, /expected PNG files/],
    ];
    for (const [path, message] of cases) {
      await assert.rejects(readSamples(path), (e: Error) => {
        assert.ok(e instanceof SamplesError, `${path}: ${e.name}`);
        assert.match(e.message, message);
        assert.ok(!e.message.includes("\n"));
        return true;
      });
    }
    await Deno.remove(`${dir}/labels.idx`);
    await Deno.remove(`${dir}/big.idx`);
    await Deno.remove(`${dir}/cut.idx`);
    await assert.rejects(readSamples(dir), /expected a 28x28 image, got 8x8/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
