/**
 * Where one WGAN training iteration spends its time on webgpu: per-kernel GPU
 * time (tf.profile), the number of compute dispatches, and read-backs.
 *
 *   deno run -R -E scripts/profile_iteration.ts [--kernels fast|stock] [--batch 64]
 */
import * as tf from "@tensorflow/tfjs-core";
import { parseArgs } from "node:util";
import { resolveConfig } from "../lib/config.ts";
import { initBackend } from "../lib/backend.ts";
import { Wgan } from "../lib/wgan.ts";

const { values } = parseArgs({
  options: {
    kernels: { type: "string", default: "fast" },
    batch: { type: "string", default: "64" },
  },
  strict: true,
});
const fast = values.kernels === "fast";
const batch = Number(values.batch);
const started = await initBackend("webgpu", { stockWebGpuKernels: !fast });
const wgan = new Wgan(resolveConfig({ batch }), {
  fusedUpdate: started.fusedUpdate,
});
const real = tf.randomUniform([batch, 28, 28, 1], -1, 1);
const next = () => tf.clone(real);

// Count dispatches and read-backs through the backend's entry points.
// deno-lint-ignore no-explicit-any
const backend = tf.backend() as any;
const counts = { dispatches: 0, reads: 0 };
const run = backend.runWebGPUProgram.bind(backend);
backend.runWebGPUProgram = (...args: unknown[]) => {
  counts.dispatches++;
  return run(...args);
};
const read = backend.read.bind(backend);
backend.read = (...args: unknown[]) => {
  counts.reads++;
  return read(...args);
};

async function iteration(): Promise<void> {
  const losses = wgan.trainIteration(next);
  await losses.criticLoss.data();
  tf.dispose([losses.criticLoss, losses.generatorLoss]);
}

await iteration(); // warm-up: compiles the pipelines
counts.dispatches = 0;
counts.reads = 0;
let t = performance.now();
await iteration();
const plainMs = performance.now() - t;
const plain = { ...counts };
t = performance.now();
const info = await tf.profile(iteration);
const profiledMs = performance.now() - t;

const byName = new Map<string, { n: number; ms: number }>();
const byShape = new Map<string, { n: number; ms: number }>();
for (const k of info.kernels) {
  const ms = typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
  const shape = `${k.name} ${
    k.inputShapes.map((s) => JSON.stringify(s)).join(" ")
  }`;
  for (const [map, key] of [[byName, k.name], [byShape, shape]] as const) {
    const e = map.get(key) ?? { n: 0, ms: 0 };
    e.n++;
    e.ms += ms;
    map.set(key, e);
  }
}
const total = [...byName.values()].reduce((s, v) => s + v.ms, 0);
console.log(
  `kernels ${values.kernels}: iteration ${plainMs.toFixed(0)} ms; ` +
    `${plain.dispatches} tfjs programs run (excludes the fused RMSProp dispatches), ` +
    `${plain.reads} read-backs; profiled iteration ${
      profiledMs.toFixed(0)
    } ms, ` +
    `sum of kernel times ${
      total.toFixed(0)
    } ms over ${info.kernels.length} kernel calls`,
);
const print = (map: Map<string, { n: number; ms: number }>, n: number) => {
  for (
    const [k, v] of [...map.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(
      0,
      n,
    )
  ) {
    console.log(
      `${v.ms.toFixed(1).padStart(9)} ms ${String(v.n).padStart(4)}x  ${k}`,
    );
  }
};
console.log("--- by kernel");
print(byName, 20);
console.log("--- by kernel and input shapes");
print(byShape, 12);
wgan.dispose();
real.dispose();
