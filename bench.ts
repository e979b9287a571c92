/**
 * Times WGAN training iterations (nCritic critic updates, each with RMSProp
 * and clipping, then one generator update) after warm-up.
 *
 *   deno task bench --arch dcgan28 --batch 64 --backend webgpu --iterations 5
 *     [--warmup 1] [--kernels fast|stock] [--tiles auto|software|hardware]
 *
 * Real batches are uniform noise in [-1, 1] (the timing does not depend on the
 * data). Each iteration ends with one read-back of the losses. Prints one line
 * per iteration, then one JSON line:
 * `{"backend", "arch", "batch", "msPerIteration", "minMs", "maxMs", "warmupMs",
 * "cpuMsPerIteration", ...}`. CPU time counts every thread of the process
 * (llvmpipe's shader threads too): on a shared machine it shows the work an
 * iteration needs when wall time is inflated by other load.
 *
 * On a software WebGPU adapter the first iteration compiles the shaders; Mesa
 * keeps them in its shader cache (`~/.cache/mesa_shader_cache`, or
 * `MESA_SHADER_CACHE_DIR`), so a second run warms up much faster.
 */
import * as tf from "@tensorflow/tfjs-core";
import { parseArgs } from "node:util";
import process from "node:process";
import { type BackendName, BACKENDS, resolveConfig } from "./lib/config.ts";
import { initBackend } from "./lib/backend.ts";
import { type Architecture, ARCHITECTURES, imageSize } from "./lib/models.ts";
import { Wgan } from "./lib/wgan.ts";
import { Rng } from "./lib/random.ts";
import { parseIntFlag } from "./lib/cli.ts";

function fail(message: string): never {
  console.error(`bench: ${message}`);
  Deno.exit(2);
}

function positiveInt(name: string, text: string): number {
  try {
    return parseIntFlag(name, text);
  } catch (e) {
    fail((e as Error).message);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

let flags;
try {
  flags = parseArgs({
    args: Deno.args,
    strict: true,
    options: {
      arch: { type: "string", default: "dcgan28" },
      batch: { type: "string", default: "64" },
      backend: { type: "string", default: "webgpu" },
      iterations: { type: "string", default: "5" },
      warmup: { type: "string", default: "1" },
      kernels: { type: "string", default: "fast" },
      tiles: { type: "string", default: "auto" },
    },
  }).values;
} catch (e) {
  fail((e as Error).message);
}
const arch = flags.arch as Architecture;
if (!ARCHITECTURES.includes(arch)) {
  fail(`Expected --arch to be one of ${ARCHITECTURES.join(", ")}, got ${arch}`);
}
const backendName = flags.backend as BackendName;
if (!BACKENDS.includes(backendName)) {
  fail(
    `Expected --backend to be one of ${
      BACKENDS.join(", ")
    }, got ${backendName}`,
  );
}
if (!["fast", "stock"].includes(flags.kernels)) {
  fail(`Expected --kernels to be fast or stock, got ${flags.kernels}`);
}
if (!["auto", "software", "hardware"].includes(flags.tiles)) {
  fail(`Expected --tiles to be auto, software or hardware, got ${flags.tiles}`);
}
const batch = positiveInt("batch", flags.batch);
const iterations = positiveInt("iterations", flags.iterations);
const warmup = positiveInt("warmup", flags.warmup);
const fast = flags.kernels === "fast";

let info;
try {
  info = await initBackend(backendName, {
    stockWebGpuKernels: !fast,
    webgpuTiles: flags.tiles === "auto"
      ? undefined
      : flags.tiles as "software" | "hardware",
  });
} catch (e) {
  fail((e as Error).message);
}
console.log(info.message);
if (info.softwareAdapter) {
  console.log(
    "shader cache: ~/.cache/mesa_shader_cache (set MESA_SHADER_CACHE_DIR to move it); the first iteration compiles",
  );
}

const config = resolveConfig({ arch, batch, backend: backendName });
const wgan = new Wgan(config, { fusedUpdate: info.fusedUpdate });
const size = imageSize(arch);
const rng = new Rng(1);
// Four fixed "real" batches, as in the PyTorch reference benchmark.
const pool = [0, 1, 2, 3].map(() => {
  const v = new Float32Array(batch * size * size);
  for (let i = 0; i < v.length; i++) v[i] = rng.next() * 2 - 1;
  return tf.tensor4d(v, [batch, size, size, 1]);
});
let next = 0;
const nextRealBatch = () => tf.clone(pool[next++ % pool.length]);

async function iteration(): Promise<number> {
  const t = performance.now();
  const losses = wgan.trainIteration(nextRealBatch);
  await losses.criticLoss.data();
  tf.dispose([losses.criticLoss, losses.generatorLoss]);
  return performance.now() - t;
}

let warmupMs = 0;
const compiles = info.name === "webgpu" ? " (includes shader compilation)" : "";
for (let i = 0; i < warmup; i++) {
  const ms = await iteration();
  warmupMs += ms;
  console.log(`warm-up ${i + 1}/${warmup}: ${ms.toFixed(0)} ms${compiles}`);
}
const times: number[] = [];
const cpuStart = process.cpuUsage();
for (let i = 0; i < iterations; i++) {
  const ms = await iteration();
  times.push(ms);
  console.log(`iter ${i + 1}/${iterations}: ${ms.toFixed(0)} ms`);
}
const cpu = process.cpuUsage(cpuStart);
const result = {
  backend: info.name,
  arch,
  batch,
  msPerIteration: Math.round(median(times)),
  minMs: Math.round(Math.min(...times)),
  maxMs: Math.round(Math.max(...times)),
  warmupMs: Math.round(warmupMs),
  // Process CPU time (all threads, including llvmpipe's) per timed iteration.
  cpuMsPerIteration: Math.round((cpu.user + cpu.system) / 1000 / iterations),
  iterations,
  kernels: info.name === "webgpu" ? flags.kernels : undefined,
  adapter: info.adapter,
  rssMiB: Math.round(Deno.memoryUsage().rss / 2 ** 20),
};
wgan.dispose();
tf.dispose(pool);
console.log(JSON.stringify(result));
