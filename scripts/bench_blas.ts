/**
 * Times WGAN training iterations and generator inference on the "blas"
 * backend (tfjs cpu with OpenBLAS sgemm through FFI).
 *
 *   deno run -R -E --allow-ffi scripts/bench_blas.ts --iterations 5
 *   deno run -R -E --allow-ffi scripts/bench_blas.ts --profile
 *   deno run -R -E --allow-ffi scripts/bench_blas.ts --infer
 *
 * Prints one line per measurement and a final JSON line.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { parseArgs } from "node:util";
import { initBlasBackend } from "../lib/blas_backend.ts";
import { resolveConfig } from "../lib/config.ts";
import {
  BatchStream,
  FIXTURES_DATA_DIR,
  loadFashionMnist,
} from "../lib/data.ts";
import { buildGenerator } from "../lib/models.ts";
import { Wgan } from "../lib/wgan.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  strict: true,
  options: {
    iterations: { type: "string", default: "5" },
    warmup: { type: "string", default: "1" },
    batch: { type: "string", default: "64" },
    threads: { type: "string", default: "2" },
    profile: { type: "boolean", default: false },
    infer: { type: "boolean", default: false },
  },
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function int(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    console.error(
      `Expected --${name} to be a non-negative integer, got ${value}`,
    );
    Deno.exit(2);
  }
  return n;
}

const iterations = Math.max(1, int("iterations", flags.iterations));
const warmup = int("warmup", flags.warmup);
const batch = int("batch", flags.batch);
const threads = int("threads", flags.threads);

tf.enableProdMode();
let info;
try {
  info = await initBlasBackend({ threads });
} catch (error) {
  console.error((error as Error).message);
  Deno.exit(1);
}
console.log(`blas: ${info.path}, ${info.threads} threads`);

if (flags.infer) {
  // Generator inference throughput, as the server would run it.
  const generator = buildGenerator({
    arch: "dcgan28",
    latentDim: 100,
    seed: 0,
  });
  const results: Record<string, number> = {};
  for (const n of [1, 64, 256]) {
    const z = tf.randomNormal([n, 100]);
    const run = () =>
      tf.tidy(() => generator.predict(z, { batchSize: n }) as tf.Tensor)
        .dataSync();
    for (let i = 0; i < 3; i++) run();
    const times: number[] = [];
    const until = performance.now() + 2000;
    while (performance.now() < until || times.length < 5) {
      const t = performance.now();
      run();
      times.push(performance.now() - t);
    }
    const ms = median(times);
    results[`imagesPerSecondBatch${n}`] = Math.round(n / ms * 1000);
    console.log(
      `batch ${n}: ${ms.toFixed(2)} ms per call, ${
        Math.round(n / ms * 1000)
      } images/s`,
    );
    z.dispose();
  }
  console.log(JSON.stringify({ backend: "blas", arch: "dcgan28", ...results }));
  Deno.exit(0);
}

const config = resolveConfig({ batch, backend: "cpu" });
const data = await loadFashionMnist(FIXTURES_DATA_DIR);
const stream = new BatchStream(data, { batchSize: batch, seed: 1 });
const wgan = new Wgan(config);
const next = () => stream.next();

async function iteration(): Promise<number> {
  const t = performance.now();
  const losses = wgan.trainIteration(next);
  await losses.criticLoss.data();
  tf.dispose([losses.criticLoss, losses.generatorLoss]);
  return performance.now() - t;
}

const t0 = performance.now();
for (let i = 0; i < warmup; i++) await iteration();
const warmupMs = performance.now() - t0;

if (flags.profile) {
  const profile = await tf.profile(async () => void await iteration());
  const byName = new Map<string, { n: number; ms: number }>();
  const byKernel = new Map<string, number>();
  for (const k of profile.kernels) {
    const ms = typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
    byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + ms);
    const key = `${k.name} ${k.inputShapes.map((s) => `[${s}]`).join(" ")}`;
    const e = byName.get(key) ?? { n: 0, ms: 0 };
    e.n++;
    e.ms += typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
    byName.set(key, e);
  }
  const rows = [...byName.entries()].sort((a, b) => b[1].ms - a[1].ms);
  const total = rows.reduce((s, [, v]) => s + v.ms, 0);
  console.log(
    `${profile.kernels.length} kernel calls, ${total.toFixed(0)} ms in kernels`,
  );
  console.log(
    [...byKernel.entries()].sort((a, b) => b[1] - a[1])
      .map(([name, ms]) => `${name} ${ms.toFixed(0)}`).join(", "),
  );
  for (const [key, v] of rows.slice(0, 30)) {
    console.log(
      `${v.ms.toFixed(1).padStart(8)} ms ${String(v.n).padStart(4)}x ${key}`,
    );
  }
}

const times: number[] = [];
for (let i = 0; i < iterations; i++) {
  times.push(await iteration());
  console.log(`iteration ${i + 1}: ${times[i].toFixed(0)} ms`);
}
const rss = Deno.memoryUsage().rss;
console.log(JSON.stringify({
  backend: "blas",
  arch: "dcgan28",
  batch,
  threads: info.threads,
  msPerIteration: Math.round(median(times)),
  minMs: Math.round(Math.min(...times)),
  maxMs: Math.round(Math.max(...times)),
  warmupMs: Math.round(warmupMs),
  rssMiB: Math.round(rss / 2 ** 20),
}));
wgan.dispose();
