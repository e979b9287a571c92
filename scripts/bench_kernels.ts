/**
 * Times the fast webgpu kernels against tfjs's stock ones on the dcgan28
 * training shapes, side by side in one run.
 *
 *   deno run -A scripts/bench_kernels.ts [--batch 64] [--reps 5] [--stock]
 *       [--only conv2,dW2] [--tiles software|hardware]
 *
 * For each op it prints the first call (pipeline compile + one run) and the
 * steady-state time per call (reps calls, one read-back) with GFLOP/s, both
 * in wall time and in process CPU time (steadier when the machine is shared:
 * llvmpipe runs its shader threads inside this process).
 */
import { parseArgs } from "node:util";
import process from "node:process";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-webgpu";
import {
  registerFastWebGpuKernels,
  unregisterFastWebGpuKernels,
} from "../lib/kernels/register_webgpu.ts";
import { SOFTWARE_TILES } from "../lib/kernels/webgpu_gemm.ts";

const { values } = parseArgs({
  options: {
    batch: { type: "string", default: "64" },
    reps: { type: "string", default: "5" },
    stock: { type: "boolean", default: false },
    only: { type: "string", default: "" },
    tiles: { type: "string", default: "" },
    tm: { type: "string", default: "" },
    tn: { type: "string", default: "" },
    variants: { type: "string", default: "" },
    rounds: { type: "string", default: "3" },
  },
  strict: true,
});
const B = Number(values.batch);
// Experiments: override the software tile shape.
if (values.tm) SOFTWARE_TILES.tm = Number(values.tm);
if (values.tn) SOFTWARE_TILES.tn = Number(values.tn);
const reps = Number(values.reps);
const only = values.only ? values.only.split(",") : [];

tf.enableProdMode();
await tf.setBackend("webgpu");

type Op = { name: string; flops: number; run: () => tf.Tensor };
const rnd = (shape: number[], seed: number) =>
  tf.randomUniform(shape, -1, 1, "float32", seed);
const x1 = rnd([B, 28, 28, 1], 1) as tf.Tensor4D;
const w1 = rnd([4, 4, 1, 64], 2) as tf.Tensor4D;
const x2 = rnd([B, 14, 14, 64], 3) as tf.Tensor4D;
const w2 = rnd([4, 4, 64, 128], 4) as tf.Tensor4D;
const y2 = rnd([B, 7, 7, 128], 5) as tf.Tensor4D;
const z = rnd([B, 100], 6) as tf.Tensor2D;
const wd = rnd([100, 6272], 7) as tf.Tensor2D;
const hd = rnd([B, 6272], 8) as tf.Tensor2D;
const conv = (cin: number, cout: number, oh: number) =>
  2 * B * oh * oh * 16 * cin * cout;
const filterGrad = (x: tf.Tensor, dy: tf.Tensor, shape: number[]) =>
  tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, {
    strides: 2,
    pad: "same",
    dataFormat: "NHWC",
    filterShape: shape,
  }) as tf.Tensor;
const ops: Op[] = [
  {
    name: "conv1",
    flops: conv(1, 64, 14),
    run: () => tf.conv2d(x1, w1, 2, "same"),
  },
  {
    name: "conv2",
    flops: conv(64, 128, 7),
    run: () => tf.conv2d(x2, w2, 2, "same"),
  },
  {
    name: "convT1",
    flops: conv(64, 128, 7),
    run: () => tf.conv2dTranspose(y2, w2, [B, 14, 14, 64], 2, "same"),
  },
  {
    name: "convT2",
    flops: conv(1, 64, 14),
    run: () => tf.conv2dTranspose(x2, w1, [B, 28, 28, 1], 2, "same"),
  },
  {
    name: "dW2",
    flops: conv(64, 128, 7),
    run: () => filterGrad(x2, y2, [4, 4, 64, 128]),
  },
  {
    name: "dW1",
    flops: conv(1, 64, 14),
    run: () => filterGrad(x1, x2, [4, 4, 1, 64]),
  },
  {
    name: "dense",
    flops: 2 * B * 100 * 6272,
    run: () => tf.matMul(z, wd),
  },
  {
    name: "denseDx",
    flops: 2 * B * 100 * 6272,
    run: () => tf.matMul(hd, wd, false, true),
  },
  {
    name: "denseDw",
    flops: 2 * B * 100 * 6272,
    run: () => tf.matMul(z, hd, true, false),
  },
].filter((op) => only.length === 0 || only.includes(op.name));

async function time(
  op: Op,
): Promise<{ firstMs: number; ms: number; cpuMs: number }> {
  let t = performance.now();
  const first = op.run();
  await first.data();
  const firstMs = performance.now() - t;
  first.dispose();
  t = performance.now();
  const cpu = process.cpuUsage();
  const outs: tf.Tensor[] = [];
  for (let i = 0; i < reps; i++) outs.push(op.run());
  await outs[outs.length - 1].data();
  const ms = (performance.now() - t) / reps;
  const used = process.cpuUsage(cpu);
  const cpuMs = (used.user + used.system) / 1000 / reps;
  tf.dispose(outs);
  return { firstMs, ms, cpuMs };
}

if (values.variants) {
  // Tile experiments: alternate software tile shapes "TMxTN[xINVOCATIONS]"
  // over rounds and
  // keep each one's best time (robust to other load on the machine).
  const shapes = values.variants.split(",").map((v) =>
    v.split("x").map(Number)
  );
  registerFastWebGpuKernels({ fallbackAdapter: true });
  for (const op of ops) {
    const best = shapes.map(() => ({ ms: Infinity, cpuMs: Infinity }));
    for (let round = 0; round < Number(values.rounds); round++) {
      for (const [i, [tm, tn, invocations]] of shapes.entries()) {
        SOFTWARE_TILES.tm = tm;
        SOFTWARE_TILES.tn = tn;
        SOFTWARE_TILES.invocations = invocations ?? 64;
        const r = await time(op);
        best[i].ms = Math.min(best[i].ms, r.ms);
        best[i].cpuMs = Math.min(best[i].cpuMs, r.cpuMs);
      }
    }
    console.log(
      `${op.name.padEnd(8)} ${
        shapes.map(([tm, tn, inv], i) =>
          `${tm}x${tn}${inv ? `x${inv}` : ""} ${
            (op.flops / best[i].ms / 1e6).toFixed(1)
          } GFLOP/s ${(op.flops / best[i].cpuMs / 1e6).toFixed(1)} /cpu-s`
        ).join(" | ")
      }`,
    );
  }
  Deno.exit(0);
}

const variants: ("fast" | "stock")[] = values.stock
  ? ["fast", "stock"]
  : ["fast"];
const fallbackAdapter = values.tiles === ""
  ? undefined
  : values.tiles === "software";
for (const op of ops) {
  const cells: string[] = [];
  for (const v of variants) {
    if (v === "fast") registerFastWebGpuKernels({ fallbackAdapter });
    else unregisterFastWebGpuKernels();
    const { firstMs, ms, cpuMs } = await time(op);
    cells.push(
      `${v} ${ms.toFixed(1)} ms ${(op.flops / ms / 1e6).toFixed(1)} GFLOP/s, ` +
        `cpu ${cpuMs.toFixed(1)} ms ${
          (op.flops / cpuMs / 1e6).toFixed(1)
        } GFLOP/cpu-s (first ${firstMs.toFixed(0)} ms)`,
    );
  }
  console.log(`${op.name.padEnd(8)} ${cells.join(" | ")}`);
}
