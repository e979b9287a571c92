import assert from "node:assert/strict";
import {
  decodeIdx,
  encodeIdx,
  gzip,
  IdxFormatError,
  IMAGES_MAGIC,
  LABELS_MAGIC,
  readIdxFile,
} from "../lib/idx.ts";
import { FIXTURES_DATA_DIR, loadFashionMnist } from "../lib/data.ts";
import { tempDir } from "./helpers.ts";

Deno.test("readIdxFile() accepts the embedded fixtures with their labels", async () => {
  const train = await loadFashionMnist(FIXTURES_DATA_DIR, "train");
  assert.equal(train.count, 5000);
  assert.equal(train.size, 28);
  assert.equal(train.images.length, 5000 * 784);
  assert.equal(train.labels?.length, 5000);
  const test = await loadFashionMnist(FIXTURES_DATA_DIR, "t10k");
  assert.equal(test.count, 1000);
  // Every class is present in the test subset.
  assert.equal(new Set(test.labels).size, 10);
  // Clothing on a dark background: many zero pixels, some bright ones.
  const zeros = train.images.filter((p) => p === 0).length;
  assert.ok(zeros > train.images.length * 0.3);
  assert.ok(train.images.some((p) => p > 200));
});

async function rejects(path: string, pattern: RegExp, magic = IMAGES_MAGIC) {
  await assert.rejects(() => readIdxFile(path, magic), (e: Error) => {
    assert.ok(e instanceof IdxFormatError, `${e}`);
    assert.match(e.message, pattern);
    assert.ok(e.message.includes(path), "the message names the file");
    return true;
  });
}

Deno.test("readIdxFile() rejects each kind of bad file with a message naming it", async (t) => {
  const dir = await tempDir();
  const good = encodeIdx(IMAGES_MAGIC, [2, 28, 28], new Uint8Array(2 * 784));

  await t.step("missing file", async () => {
    await rejects(`${dir}/nothing-idx3-ubyte.gz`, /file not found/);
  });
  await t.step("not gzip", async () => {
    await Deno.writeFile(`${dir}/plain.gz`, good);
    await rejects(`${dir}/plain.gz`, /expected a gzip file/);
  });
  await t.step("truncated gzip stream", async () => {
    const gz = await gzip(good);
    await Deno.writeFile(`${dir}/cut.gz`, gz.subarray(0, gz.length >> 1));
    await rejects(`${dir}/cut.gz`, /gzip stream|truncated/);
  });
  await t.step("truncated data", async () => {
    await Deno.writeFile(
      `${dir}/short.gz`,
      await gzip(good.subarray(0, good.length - 10)),
    );
    await rejects(`${dir}/short.gz`, /expected 1568 bytes of data/);
  });
  await t.step("wrong magic", async () => {
    const labels = encodeIdx(LABELS_MAGIC, [3], new Uint8Array(3));
    await Deno.writeFile(`${dir}/labels.gz`, await gzip(labels));
    await rejects(`${dir}/labels.gz`, /expected IDX magic 2051, got 2049/);
  });
  await t.step("header cut short", async () => {
    await Deno.writeFile(`${dir}/tiny.gz`, await gzip(good.subarray(0, 6)));
    await rejects(`${dir}/tiny.gz`, /at least 8 bytes/);
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("encodeIdx() and decodeIdx() round-trip, and raw files are read too", async () => {
  const data = new Uint8Array([0, 1, 2, 250, 251, 252]);
  const bytes = encodeIdx(IMAGES_MAGIC, [1, 2, 3], data);
  const back = decodeIdx(bytes, IMAGES_MAGIC);
  assert.deepEqual(back.dims, [1, 2, 3]);
  assert.deepEqual(Array.from(back.data), Array.from(data));
  const dir = await tempDir();
  await Deno.writeFile(`${dir}/raw.idx`, bytes);
  assert.deepEqual((await readIdxFile(`${dir}/raw.idx`, IMAGES_MAGIC)).dims, [
    1,
    2,
    3,
  ]);
  await Deno.remove(dir, { recursive: true });
});
