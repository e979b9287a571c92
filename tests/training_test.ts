import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { writeFileAtomic } from "../lib/atomic.ts";
import { listCheckpoints, readLatestCheckpoint } from "../lib/checkpoint.ts";
import { readModelArtifacts } from "../lib/model_io.ts";
import {
  decimate,
  lossPlotSvg,
  medianFilter,
  writeLossPlot,
} from "../lib/plot.ts";
import {
  NonFiniteError,
  readLosses,
  type RunOptions,
  runTraining,
} from "../lib/training.ts";
import type { TrainConfig } from "../lib/config.ts";
import {
  randomDataset,
  tempDir,
  tinyConfig,
  tinyModels,
  useCpu,
} from "./helpers.ts";

await useCpu();

const data = randomDataset(40);

function run(
  config: TrainConfig,
  out: string,
  extra: Partial<RunOptions> = {},
) {
  return runTraining(config, {
    out,
    data,
    buildModels: tinyModels,
    ...extra,
  });
}

async function weightsOf(dir: string): Promise<Float32Array> {
  return new Float32Array(
    (await readModelArtifacts(dir)).weightData as ArrayBuffer,
  );
}

Deno.test("runTraining() writes models, config, losses, samples and a checkpoint", async () => {
  const out = await tempDir();
  const config = tinyConfig({
    iterations: 3,
    sampleEvery: 2,
    checkpointEvery: 2,
  });
  const before = tf.memory().numTensors;
  const result = await run(config, out);
  assert.equal(result.iteration, 3);
  assert.equal(tf.memory().numTensors, before, "no tensors left behind");
  for (
    const f of [
      "generator/model.json",
      "generator/weights.bin",
      "critic/model.json",
      "critic/weights.bin",
      "config.json",
      "losses.jsonl",
      "samples/iter_000002.png",
      "samples/iter_000003.png",
    ]
  ) {
    await Deno.stat(`${out}/${f}`);
  }
  const records = await readLosses(`${out}/losses.jsonl`);
  assert.deepEqual(records.map((r) => r.iteration), [1, 2, 3]);
  for (const r of records) {
    assert.equal(r.wassersteinEstimate, -r.criticLoss);
    assert.ok(Number.isFinite(r.generatorLoss) && r.ms >= 0);
  }
  assert.deepEqual(
    JSON.parse(await Deno.readTextFile(`${out}/config.json`)),
    config,
  );
  assert.deepEqual(await listCheckpoints(`${out}/checkpoints`), [
    "iter_000002",
    "iter_000003",
  ]);
  const critic = await weightsOf(`${out}/critic`);
  assert.ok(critic.every((w) => Math.abs(w) <= config.clip + 1e-9));
  await Deno.remove(out, { recursive: true });
});

Deno.test("a run interrupted at k and resumed ends with the same weights as an uninterrupted run", async () => {
  const k = 3;
  const straight = await tempDir(), resumed = await tempDir();
  await run(tinyConfig({ iterations: 2 * k }), straight);
  // Stop after k iterations (as SIGINT does: the signal writes a checkpoint), then resume.
  const controller = new AbortController();
  await run(tinyConfig({ iterations: 2 * k }), resumed, {
    signal: controller.signal,
    readBackMs: 0,
    onProgress: ({ record }) => {
      if (record.iteration === k) controller.abort();
    },
  });
  assert.deepEqual(await listCheckpoints(`${resumed}/checkpoints`), [
    "iter_000003",
  ]);
  const result = await run(tinyConfig({ iterations: 2 * k }), resumed, {
    resume: true,
  });
  assert.equal(result.iteration, 2 * k);
  for (const model of ["generator", "critic"]) {
    const a = await weightsOf(`${straight}/${model}`);
    const b = await weightsOf(`${resumed}/${model}`);
    assert.equal(a.length, b.length);
    const maxDiff = a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
    assert.ok(maxDiff < 1e-6, `${model} differs by ${maxDiff}`);
  }
  const la = await readLosses(`${straight}/losses.jsonl`);
  const lb = await readLosses(`${resumed}/losses.jsonl`);
  assert.deepEqual(
    lb.map((r) => r.iteration),
    [1, 2, 3, 4, 5, 6],
    "no gaps, no repeats",
  );
  assert.deepEqual(lb.map((r) => r.criticLoss), la.map((r) => r.criticLoss));
  await Deno.remove(straight, { recursive: true });
  await Deno.remove(resumed, { recursive: true });
});

Deno.test("resume drops loss records written after the last checkpoint, including a torn line", async () => {
  const out = await tempDir();
  await run(tinyConfig({ iterations: 2, checkpointEvery: 1, keep: 5 }), out);
  // As if killed after writing iteration 3's record (and half of 4's) but before its checkpoint.
  await Deno.remove(`${out}/checkpoints/iter_000002`, { recursive: true });
  const text = await Deno.readTextFile(`${out}/losses.jsonl`);
  await Deno.writeTextFile(
    `${out}/losses.jsonl`,
    text + '{"iteration":3,"criticLoss":0}\n{"iter',
  );
  await run(tinyConfig({ iterations: 4, checkpointEvery: 1 }), out, {
    resume: true,
  });
  const records = await readLosses(`${out}/losses.jsonl`);
  assert.deepEqual(records.map((r) => r.iteration), [1, 2, 3, 4]);
  assert.notEqual(records[2].criticLoss, 0);
  await Deno.remove(out, { recursive: true });
});

Deno.test("runTraining() stops at the next iteration when the signal is aborted from a timer, as a stop signal's listener does", async () => {
  const out = await tempDir();
  const config = tinyConfig({
    iterations: 2_000,
    sampleEvery: 2_000,
    checkpointEvery: 2_000,
  });
  const controller = new AbortController();
  let stoppedAt = 0;
  setTimeout(() => controller.abort(), 100);
  const result = await run(config, out, {
    signal: controller.signal,
    readBackMs: Infinity, // no loss write (a real async op) before the end

    onEvent: (e) => {
      if (e.kind === "stopped") stoppedAt = e.iteration;
    },
  });
  assert.ok(result.stopped);
  assert.ok(result.iteration < 2_000, `${result.iteration}`);
  assert.equal(stoppedAt, result.iteration);
  const checkpoint = await readLatestCheckpoint(`${out}/checkpoints`);
  assert.equal(checkpoint.state.iteration, result.iteration);
  await Deno.remove(out, { recursive: true });
});

Deno.test("--keep K keeps the last K checkpoints", async () => {
  const out = await tempDir();
  await run(tinyConfig({ iterations: 5, checkpointEvery: 1, keep: 2 }), out);
  assert.deepEqual(await listCheckpoints(`${out}/checkpoints`), [
    "iter_000004",
    "iter_000005",
  ]);
  const latest = await readLatestCheckpoint(`${out}/checkpoints`);
  assert.equal(latest.state.iteration, 5);
  await Deno.remove(out, { recursive: true });
});

Deno.test("a non-finite loss stops the run, names the iteration and keeps the last good checkpoint", async () => {
  const out = await tempDir();
  const config = tinyConfig({ iterations: 6, checkpointEvery: 2 });
  let models: ReturnType<typeof tinyModels> | undefined;
  await assert.rejects(
    () =>
      run(config, out, {
        buildModels: (c) => (models = tinyModels(c)),
        readBackMs: 0,
        onEvent: (event) => {
          // After the first checkpoint, a generator weight becomes NaN: iteration 3's losses are NaN.
          if (event.kind === "checkpoint" && event.iteration === 2) {
            const v = models!.generator.trainableWeights[0]
              .read() as tf.Variable;
            tf.tidy(() => v.assign(tf.fill(v.shape, NaN)));
          }
        },
      }),
    (e: Error) =>
      e instanceof NonFiniteError &&
      /non-finite at iteration 3/.test(e.message),
  );
  assert.deepEqual(await listCheckpoints(`${out}/checkpoints`), [
    "iter_000002",
  ]);
  const generator = await weightsOf(`${out}/checkpoints/iter_000002/generator`);
  assert.ok(
    generator.every(Number.isFinite),
    "the kept checkpoint is the good one",
  );
  await Deno.remove(out, { recursive: true });
});

Deno.test("writeFileAtomic() leaves the old file intact when interrupted before the rename", async () => {
  const dir = await tempDir();
  const path = `${dir}/state.json`;
  await writeFileAtomic(path, "old");
  // An interrupted write leaves only a temporary file beside the target.
  await Deno.writeTextFile(`${path}.1234abcd.tmp`, "new, half-writ");
  assert.equal(await Deno.readTextFile(path), "old");
  await writeFileAtomic(path, "new");
  assert.equal(await Deno.readTextFile(path), "new");
  // A failing write (the target folder is gone) neither throws away the old file nor leaves a temp file.
  await assert.rejects(() => writeFileAtomic(`${dir}/missing/x.json`, "y"));
  const names = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  assert.deepEqual(names.sort(), ["state.json", "state.json.1234abcd.tmp"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("lossPlotSvg() is valid SVG with the Wasserstein estimate (raw and filtered) and the generator loss", async () => {
  const records = Array.from({ length: 300 }, (_, i) => ({
    iteration: i + 1,
    criticLoss: -1 / (i + 1),
    generatorLoss: Math.sin(i),
    wassersteinEstimate: 1 / (i + 1),
    ms: 1,
  }));
  const svg = lossPlotSvg(records);
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg, /<\/svg>\n$/);
  const labels = [...svg.matchAll(/class="series" data-label="([^"]+)"/g)].map((
    m,
  ) => m[1]);
  assert.deepEqual(labels, [
    "raw",
    "median filter, window 101",
    "generator loss",
  ]);
  for (const m of svg.matchAll(/points="([^"]*)"/g)) {
    assert.equal(m[1].split(" ").length, 300);
    assert.ok(!m[1].includes("NaN"));
  }
  assert.match(svg, /generator iterations/);
  assert.match(svg, /Wasserstein estimate/);
  // Balanced tags: every opened element is closed.
  const opened = (svg.match(/<(?!\/)[a-z]+[^>]*[^/]>/g) ?? []).length;
  const closed = (svg.match(/<\/[a-z]+>/g) ?? []).length;
  assert.equal(opened, closed);
  const dir = await tempDir();
  await Deno.writeTextFile(
    `${dir}/losses.jsonl`,
    records.map((r) => JSON.stringify(r)).join("\n"),
  );
  await writeLossPlot(dir);
  assert.equal(await Deno.readTextFile(`${dir}/losses.svg`), svg);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("lossPlotSvg() draws a long run at the plot's resolution, keeping its spikes, and adds the FID panel when records carry one", () => {
  const records = Array.from({ length: 20_000 }, (_, i) => ({
    iteration: i + 1,
    criticLoss: 0,
    generatorLoss: i === 12_345 ? 100 : Math.cos(i),
    wassersteinEstimate: 1 / (i + 1),
    ms: 1,
    ...((i + 1) % 1000 === 0 ? { fid: 100 - (i + 1) / 1000 } : {}),
  }));
  const svg = lossPlotSvg(records);
  const series = new Map(
    [...svg.matchAll(/data-label="([^"]+)"[^>]*points="([^"]*)"/g)].map((
      m,
    ) => [m[1], m[2].split(" ").map((p) => p.split(",").map(Number))]),
  );
  assert.deepEqual([...series.keys()], [
    "raw",
    "median filter, window 101",
    "generator loss",
    "FID",
  ]);
  const generator = series.get("generator loss")!;
  assert.ok(generator.length <= 2 * 790, `${generator.length} points`);
  // The spike is the panel's highest value: its point is drawn at the top.
  const top = Math.min(...generator.map(([, y]) => y));
  assert.equal(top, 350);
  assert.equal(series.get("FID")!.length, 20);
  assert.match(svg, /FID of 1,000 samples/);
  const height = (text: string) => Number(text.match(/height="(\d+)"/)![1]);
  const withoutFid = lossPlotSvg(records.map(({ fid: _, ...r }) => r));
  assert.ok(!withoutFid.includes("FID"));
  assert.ok(height(svg) > height(withoutFid) + 220, "room for the FID panel");
});

Deno.test("decimate() keeps every point of a short series and the extremes of each column of a long one", () => {
  assert.deepEqual(decimate([1, 2, 3], [3, 2, 1], 10), [0, 1, 2]);
  const x = Array.from({ length: 1000 }, (_, i) => i);
  const y = x.map((i) => (i === 501 ? -5 : i === 502 ? 7 : 0));
  const kept = decimate(x, y, 10);
  assert.ok(kept.length <= 20);
  assert.ok(kept.includes(501) && kept.includes(502));
  assert.deepEqual(kept, [...kept].sort((a, b) => a - b));
});

Deno.test("medianFilter() removes single spikes and keeps a constant", () => {
  assert.deepEqual(medianFilter([1, 1, 50, 1, 1], 3), [1, 1, 1, 1, 1]);
  assert.deepEqual(medianFilter([2, 2, 2], 101), [2, 2, 2]);
});
