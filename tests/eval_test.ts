import assert from "node:assert/strict";
import { FIXTURES_DATA_DIR } from "../lib/data.ts";
import { encodeIdx, IMAGES_MAGIC, readIdxFile } from "../lib/idx.ts";

const EVAL = new URL("../eval.ts", import.meta.url).pathname;

async function runEval(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-R", "-W", "-E", EVAL, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return {
    code: out.code,
    stdout: decode(out.stdout),
    stderr: decode(out.stderr),
  };
}

Deno.test("eval --samples prints the table with both reference rows and ends with one JSON line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const test = await readIdxFile(
      `${FIXTURES_DATA_DIR}/t10k-images-idx3-ubyte.gz`,
      IMAGES_MAGIC,
    );
    const file = `${dir}/samples_000100.idx`;
    await Deno.writeFile(
      file,
      encodeIdx(IMAGES_MAGIC, [300, 28, 28], test.data.subarray(0, 300 * 784)),
    );
    const { code, stdout, stderr } = await runEval([
      "--samples",
      file,
      "--data",
      FIXTURES_DATA_DIR,
      "--cache",
      `${dir}/cache`,
    ]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /\| samples_000100\.idx +\| +300 \|/);
    assert.match(stdout, /\| real training images \(floor\) \| +300 \|/);
    assert.match(stdout, /\| uniform noise \(ceiling\) +\| +300 \|/);
    const lines = stdout.trim().split("\n");
    const report = JSON.parse(lines.at(-1)!);
    assert.equal(report.count, 300);
    assert.equal(report.referenceCount, 1000);
    assert.equal(report.histogram.length, 10);
    // Real test images against the test set: close to the floor, far from noise.
    assert.ok(report.fid < report.noiseFid / 10, lines.at(-1));
    assert.equal(report.classesCovered, 10);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("eval exits 2 on bad flags and 1 on a bad file, with one line and no stack trace", async () => {
  const usage = await runEval(["--count", "0", "--samples", "x.idx"]);
  assert.equal(usage.code, 2);
  assert.equal(usage.stderr.trim().split("\n").length, 1, usage.stderr);
  assert.match(usage.stderr, /--count: expected a positive integer/);
  const neither = await runEval([]);
  assert.equal(neither.code, 2);
  assert.match(
    neither.stderr,
    /expected exactly one of --model DIR or --samples/,
  );
  const labels = await runEval([
    "--samples",
    `${FIXTURES_DATA_DIR}/t10k-labels-idx1-ubyte.gz`,
  ]);
  assert.equal(labels.code, 1);
  assert.equal(labels.stderr.trim().split("\n").length, 1, labels.stderr);
  assert.match(labels.stderr, /expected IDX magic 2051, got 2049/);
  assert.doesNotMatch(labels.stderr, /\n\s+at /);
});
