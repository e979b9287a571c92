/**
 * Times WGAN training iterations (nCritic critic steps with RMSProp and
 * clipping, then one generator step) on the wasm backend with our kernels, or
 * on the cpu backend, and optionally lists the slowest kernels.
 *
 *   deno task bench:wasm --backend wasm --threads 2 [--arch dcgan28]
 *     [--batch 64] [--iterations 5] [--warmup 1] [--profile [--shapes]]
 *
 * `--backend cpu` runs the same on tfjs's cpu backend; `--profile` then lists
 * the kernels of one more iteration by total time (`--shapes`: per input shape).
 *
 * Prints one line per iteration and a final JSON line
 * `{"backend", "threads", "arch", "batch", "msPerIteration", "minMs", "maxMs", "warmupMs"}`.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { parseArgs } from "node:util";
import { resolveConfig } from "../lib/config.ts";
import { initWasmBackend } from "../lib/wasm_backend.ts";
import { Wgan } from "../lib/wgan.ts";
import { imageSize } from "../lib/models.ts";
import { Rng } from "../lib/random.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  strict: true,
  options: {
    backend: { type: "string", default: "wasm" },
    threads: { type: "string" }, // default: initWasmBackend's (1)
    arch: { type: "string", default: "dcgan28" },
    batch: { type: "string", default: "64" },
    iterations: { type: "string", default: "5" },
    warmup: { type: "string", default: "1" },
    profile: { type: "boolean", default: false },
    shapes: { type: "boolean", default: false },
  },
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

async function main(): Promise<void> {
  tf.enableProdMode();
  let threads = 1;
  if (flags.backend === "wasm") {
    const requested = flags.threads === undefined
      ? undefined
      : Number(flags.threads);
    threads = (await initWasmBackend({ threads: requested })).threads;
  } else if (flags.backend === "cpu") {
    await tf.setBackend("cpu");
  } else {
    throw new Error(`Expected --backend wasm or cpu, got ${flags.backend}`);
  }
  const config = resolveConfig({
    arch: flags.arch,
    batch: Number(flags.batch),
    backend: flags.backend,
  });
  const wgan = new Wgan(config);
  const size = imageSize(config.arch);
  // Four fixed "real" batches in [-1, 1], as in the PyTorch reference script.
  const rng = new Rng(7);
  const pool = Array.from({ length: 4 }, () => {
    const data = new Float32Array(config.batch * size * size);
    for (let i = 0; i < data.length; i++) data[i] = rng.next() * 2 - 1;
    return tf.tensor4d(data, [config.batch, size, size, 1]);
  });
  let next = 0;
  const nextRealBatch = () => tf.clone(pool[next++ % pool.length]);

  const iterate = () => {
    const losses = wgan.trainIteration(nextRealBatch);
    const d = losses.criticLoss.dataSync()[0];
    const g = losses.generatorLoss.dataSync()[0];
    tf.dispose([losses.criticLoss, losses.generatorLoss]);
    return [d, g];
  };

  const warmup = Number(flags.warmup), iterations = Number(flags.iterations);
  const warm: number[] = [], times: number[] = [];
  for (let i = 0; i < warmup + iterations; i++) {
    const t0 = performance.now();
    const [d, g] = iterate();
    const ms = performance.now() - t0;
    (i < warmup ? warm : times).push(ms);
    console.log(
      `iter ${i}${i < warmup ? " (warmup)" : ""}: ${ms.toFixed(1)} ms ` +
        `dLoss=${d.toExponential(3)} gLoss=${g.toExponential(3)} ` +
        `tensors=${tf.memory().numTensors}`,
    );
  }

  if (flags.profile) {
    const info = await tf.profile(() => {
      iterate();
    });
    const byKernel = new Map<string, { ms: number; n: number }>();
    for (const k of info.kernels) {
      const key = flags.shapes
        ? `${k.name} ${JSON.stringify(k.inputShapes)}`
        : k.name;
      const e = byKernel.get(key) ?? { ms: 0, n: 0 };
      e.ms += k.kernelTimeMs as number;
      e.n++;
      byKernel.set(key, e);
    }
    const rows = [...byKernel].sort((a, b) => b[1].ms - a[1].ms);
    const total = rows.reduce((s, [, e]) => s + e.ms, 0);
    console.log(
      `profile: ${info.kernels.length} kernels, ${total.toFixed(0)} ms`,
    );
    for (const [name, e] of rows.slice(0, 40)) {
      console.log(
        `  ${name.padEnd(24)} ${e.ms.toFixed(1).padStart(8)} ms  x${e.n}`,
      );
    }
  }
  wgan.dispose();
  tf.dispose(pool);
  console.log(JSON.stringify({
    backend: flags.backend,
    threads,
    arch: config.arch,
    batch: config.batch,
    msPerIteration: Math.round(median(times)),
    minMs: Math.round(Math.min(...times)),
    maxMs: Math.round(Math.max(...times)),
    warmupMs: warm.map(Math.round),
  }));
}

await main();
// Thread workers, if any, would keep the process alive.
Deno.exit(0);
