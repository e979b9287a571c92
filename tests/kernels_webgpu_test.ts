/**
 * Each fast webgpu kernel against the cpu backend's reference op on the same
 * inputs, forward and gradient, with both tile configurations (software
 * adapter and hardware GPU), on the dcgan28 shapes (small batch) and odd
 * shapes that do not divide the tiles. Also the fused RMSProp-and-clip update.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-webgpu";
// Registers tfjs-core's gradient functions (tf.grads needs them).
import "@tensorflow/tfjs-layers";
import assert from "node:assert/strict";
import {
  fastKernelCalls,
  registerFastWebGpuKernels,
} from "../lib/kernels/register_webgpu.ts";
import {
  applyRmsPropClip,
  rmspropClipUpdate,
} from "../lib/kernels/webgpu_rmsprop.ts";
import { Rng } from "../lib/random.ts";

tf.enableProdMode();
registerFastWebGpuKernels();
const hasWebGpu = await tf.setBackend("webgpu");

// Deterministic values in [-1, 1).
function values(shape: number[], seed: number): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < out.length; i++) out[i] = rng.next() * 2 - 1;
  return out;
}

// Runs `f` on tensors made from `shapes` under `backend`; returns the outputs.
async function runOn(
  backend: string,
  shapes: number[][],
  f: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[],
): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const xs = shapes.map((s, i) => tf.tensor(values(s, 101 + i), s));
  const out = f(...xs);
  const outs = Array.isArray(out) ? out : [out];
  const data = await Promise.all(
    outs.map((t) => t.data() as Promise<Float32Array>),
  );
  tf.dispose([...xs, ...outs]);
  return data;
}

// Cpu results by case, shared by the two tile configurations.
const cpuResults = new Map<string, Float32Array[]>();

// Asserts that `f` gives the same values on webgpu (fast kernels) as on cpu,
// and that the webgpu run used the fast path of every kernel in `kernels`.
// `key` names the case so that its cpu result can be reused.
async function assertMatchesCpu(
  shapes: number[][],
  f: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[],
  kernels: string[],
  key?: string,
): Promise<void> {
  const want = (key ? cpuResults.get(key) : undefined) ??
    await runOn("cpu", shapes, f);
  if (key) cpuResults.set(key, want);
  fastKernelCalls(true);
  const got = await runOn("webgpu", shapes, f);
  const calls = fastKernelCalls(true);
  for (const k of kernels) {
    assert.ok(calls[k]?.fast > 0, `${k} did not run the fast kernel`);
    assert.equal(calls[k].stock, 0, `${k} fell back to the stock kernel`);
  }
  assert.equal(got.length, want.length);
  want.forEach((w, i) => {
    const g = got[i];
    assert.equal(g.length, w.length);
    let scale = 1e-3;
    for (const v of w) scale = Math.max(scale, Math.abs(v));
    let worst = 0;
    let at = 0;
    for (let j = 0; j < w.length; j++) {
      const d = Math.abs(g[j] - w[j]);
      if (!(d <= worst)) {
        worst = d;
        at = j;
      }
    }
    assert.ok(
      worst <= 2e-5 * scale,
      `output ${i}: |diff| ${worst} at ${at} (got ${g[at]}, want ${
        w[at]
      }), scale ${scale}`,
    );
  });
}

type Conv = {
  x: number[];
  w: number[];
  strides: number | [number, number];
  pad: "same" | "valid" | number;
};
// dcgan28's four convolutions (batch 2), then odd shapes.
const CONVS: Conv[] = [
  { x: [2, 28, 28, 1], w: [4, 4, 1, 64], strides: 2, pad: "same" },
  { x: [2, 14, 14, 64], w: [4, 4, 64, 128], strides: 2, pad: "same" },
  { x: [3, 9, 11, 5], w: [3, 3, 5, 7], strides: 1, pad: "same" },
  { x: [2, 10, 9, 8], w: [4, 4, 8, 12], strides: 2, pad: "valid" },
  { x: [1, 13, 13, 4], w: [5, 5, 4, 6], strides: [2, 3], pad: "same" },
  { x: [2, 12, 12, 3], w: [2, 2, 3, 5], strides: 3, pad: "valid" },
  { x: [1, 8, 7, 20], w: [3, 3, 20, 36], strides: 1, pad: 1 },
  // One output channel (dcgan64's last critic layer).
  { x: [2, 6, 6, 8], w: [4, 4, 8, 1], strides: 1, pad: "valid" },
];

const TILES = [
  { name: "software", fallbackAdapter: true },
  { name: "hardware", fallbackAdapter: false },
];

const opts = {
  ignore: !hasWebGpu,
  sanitizeResources: false,
  sanitizeOps: false,
};

for (const tiles of TILES) {
  Deno.test({
    name:
      `Conv2D fast kernel (${tiles.name} tiles) matches the cpu conv2d on dcgan28 and odd shapes`,
    ...opts,
    fn: async () => {
      registerFastWebGpuKernels({ fallbackAdapter: tiles.fallbackAdapter });
      for (const [i, c] of CONVS.entries()) {
        await assertMatchesCpu(
          [c.x, c.w],
          (x, w) =>
            tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.strides, c.pad),
          ["Conv2D"],
          `conv2d ${i}`,
        );
      }
    },
  });

  Deno.test({
    name:
      `FusedConv2D fast kernel (${tiles.name} tiles) matches conv2d + bias + activation on cpu`,
    ...opts,
    fn: async () => {
      registerFastWebGpuKernels({ fallbackAdapter: tiles.fallbackAdapter });
      const cases = [
        { c: CONVS[1], activation: "linear" as const },
        { c: CONVS[2], activation: "relu" as const },
        { c: CONVS[4], activation: "leakyrelu" as const },
      ];
      for (const [i, { c, activation }] of cases.entries()) {
        await assertMatchesCpu(
          [c.x, c.w, [c.w[3]]],
          (x, w, b) =>
            tf.fused.conv2d({
              x: x as tf.Tensor4D,
              filter: w as tf.Tensor4D,
              strides: c.strides,
              pad: c.pad,
              bias: b,
              activation,
              leakyreluAlpha: 0.2,
            }),
          ["FusedConv2D"],
          `fused conv2d ${i}`,
        );
      }
    },
  });

  Deno.test({
    name:
      `Conv2DBackpropInput fast kernel (${tiles.name} tiles) matches the cpu transposed conv`,
    ...opts,
    fn: async () => {
      registerFastWebGpuKernels({ fallbackAdapter: tiles.fallbackAdapter });
      // dcgan28's generator: 7 → 14 (128 → 64 channels) and 14 → 28 (64 → 1).
      const cases = [
        { dy: [2, 7, 7, 128], w: [4, 4, 64, 128], out: [2, 14, 14, 64] },
        { dy: [2, 14, 14, 64], w: [4, 4, 1, 64], out: [2, 28, 28, 1] },
        { dy: [2, 5, 6, 8], w: [4, 4, 3, 8], out: [2, 10, 11, 3] },
        { dy: [3, 7, 7, 6], w: [3, 3, 9, 6], out: [3, 7, 7, 9], s: 1 },
      ];
      for (const [i, c] of cases.entries()) {
        await assertMatchesCpu(
          [c.dy, c.w],
          (dy, w) =>
            tf.conv2dTranspose(
              dy as tf.Tensor4D,
              w as tf.Tensor4D,
              c.out as [number, number, number, number],
              c.s ?? 2,
              "same",
            ),
          ["Conv2DBackpropInput"],
          `conv2dTranspose ${i}`,
        );
      }
    },
  });

  Deno.test({
    name:
      `Conv2DBackpropFilter and Conv2DBackpropInput fast kernels (${tiles.name} tiles) give the cpu conv2d gradients`,
    ...opts,
    fn: async () => {
      registerFastWebGpuKernels({ fallbackAdapter: tiles.fallbackAdapter });
      for (const [i, c] of CONVS.entries()) {
        const yShape = tf.backend_util.computeConv2DInfo(
          c.x as [number, number, number, number],
          c.w as [number, number, number, number],
          c.strides,
          1,
          c.pad,
        ).outShape;
        await assertMatchesCpu(
          [c.x, c.w, yShape],
          (x, w, r) => {
            // Gradients of Σ conv2d(x, w)·r with respect to x and w.
            const g = tf.grads((xx, ww) =>
              tf.sum(
                tf.mul(
                  tf.conv2d(
                    xx as tf.Tensor4D,
                    ww as tf.Tensor4D,
                    c.strides,
                    c.pad,
                  ),
                  r,
                ),
              )
            );
            return g([x, w]);
          },
          ["Conv2DBackpropFilter", "Conv2DBackpropInput"],
          `conv2d grads ${i}`,
        );
      }
    },
  });

  Deno.test({
    name:
      `BatchMatMul fast kernel (${tiles.name} tiles) matches the cpu matMul, transposed, batched and broadcast`,
    ...opts,
    fn: async () => {
      registerFastWebGpuKernels({ fallbackAdapter: tiles.fallbackAdapter });
      const cases: [number[], number[], boolean, boolean][] = [
        [[64, 100], [100, 6272], false, false], // dcgan28's generator dense
        [[64, 100], [64, 6272], true, false], // its weight gradient
        [[64, 6272], [100, 6272], false, true], // its input gradient
        [[64, 6272], [6272, 1], false, false], // the critic's dense
        [[13, 17], [17, 19], false, false],
        [[17, 13], [19, 17], true, true],
        [[3, 5, 7], [3, 7, 9], false, false],
        [[1, 5, 7], [4, 7, 6], false, false],
      ];
      for (const [i, [a, b, tA, tB]] of cases.entries()) {
        await assertMatchesCpu(
          [a, b],
          (x, y) => tf.matMul(x, y, tA, tB),
          ["BatchMatMul"],
          `matMul ${i}`,
        );
      }
    },
  });

  Deno.test({
    name:
      `_FusedMatMul fast kernel (${tiles.name} tiles) matches matMul + bias + activation, and its gradients`,
    ...opts,
    fn: async () => {
      registerFastWebGpuKernels({ fallbackAdapter: tiles.fallbackAdapter });
      await assertMatchesCpu(
        [[64, 6272], [6272, 1], [1]],
        (x, w, b) =>
          tf.fused.matMul({ a: x, b: w, bias: b, activation: "linear" }),
        ["_FusedMatMul"],
      );
      await assertMatchesCpu(
        [[9, 30], [30, 22], [22], [9, 22]],
        (x, w, b, r) => {
          const f = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
            tf.sum(
              tf.mul(
                tf.fused.matMul({
                  a: xx as tf.Tensor2D,
                  b: ww as tf.Tensor2D,
                  bias: bb,
                  activation: "relu",
                }),
                r,
              ),
            );
          const g = tf.grads((xx, ww, bb) => f(xx, ww, bb));
          return [
            tf.fused.matMul({
              a: x as tf.Tensor2D,
              b: w as tf.Tensor2D,
              bias: b,
              activation: "relu",
            }),
            ...g([x, w, b]),
          ];
        },
        ["_FusedMatMul", "BatchMatMul"],
      );
    },
  });
}

Deno.test({
  name:
    "Sum and Mean fast kernels match cpu when reducing every axis but the channels, and fall back otherwise",
  ...opts,
  fn: async () => {
    registerFastWebGpuKernels();
    for (const shape of [[64, 14, 14, 64], [5, 9, 11, 12], [1000, 8]]) {
      await assertMatchesCpu(
        [shape],
        (x) => [
          tf.sum(x, [0, 1, 2].slice(0, shape.length - 1)),
          tf.mean(x, [0, 1, 2].slice(0, shape.length - 1), true),
        ],
        ["Sum", "Mean"],
      );
    }
    await assertMatchesCpu([[8, 9, 10, 12]], (x) => tf.sum(x, [1, 2]), []);
    const calls = fastKernelCalls(true);
    assert.equal(calls.Sum?.fast ?? 0, 0);
  },
});

Deno.test({
  name:
    "binary element-wise fast kernels match cpu for same-shape, scalar and per-channel operands",
  ...opts,
  fn: async () => {
    registerFastWebGpuKernels();
    const x = [4, 9, 9, 16];
    const ops = [tf.add, tf.sub, tf.mul, tf.div, tf.maximum, tf.minimum];
    for (const other of [x, [16], [1, 1, 1, 16], [1]]) {
      await assertMatchesCpu(
        [x, other],
        (a, b) => ops.flatMap((op) => [op(a, b), op(b, a)]),
        ["Add", "Sub", "Multiply", "RealDiv", "Maximum", "Minimum"],
      );
    }
  },
});

Deno.test({
  name:
    "Select, Relu, LeakyRelu, Square and FusedBatchNorm fast kernels match cpu",
  ...opts,
  fn: async () => {
    registerFastWebGpuKernels();
    const x = [4, 9, 9, 16];
    await assertMatchesCpu(
      [x, x, x, [16], [16], [16], [16]],
      (a, b, c, mean, variance, offset, scale) => [
        tf.where(tf.greater(a, 0), b, c),
        tf.relu(a),
        tf.leakyRelu(a, 0.2),
        tf.square(a),
        tf.batchNorm(a, mean, tf.abs(variance), offset, scale, 1e-5),
      ],
      ["Select", "Relu", "LeakyRelu", "Square", "FusedBatchNorm"],
    );
  },
});

Deno.test({
  name: "fast kernels fall back to the stock kernel for dilated convolutions",
  ...opts,
  fn: async () => {
    registerFastWebGpuKernels();
    const want = await runOn(
      "cpu",
      [[1, 9, 9, 3], [3, 3, 3, 4]],
      (x, w) =>
        tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, "same", "NHWC", 2),
    );
    fastKernelCalls(true);
    const got = await runOn(
      "webgpu",
      [[1, 9, 9, 3], [3, 3, 3, 4]],
      (x, w) =>
        tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, "same", "NHWC", 2),
    );
    assert.deepEqual(fastKernelCalls(true).Conv2D, { fast: 0, stock: 1 });
    for (let i = 0; i < want[0].length; i++) {
      assert.ok(Math.abs(want[0][i] - got[0][i]) < 1e-4);
    }
  },
});

Deno.test({
  name: "fast conv kernels keep the tensor count flat (temporaries are freed)",
  ...opts,
  fn: async () => {
    registerFastWebGpuKernels();
    await tf.setBackend("webgpu");
    const x = tf.tensor(values([2, 14, 14, 64], 1), [
      2,
      14,
      14,
      64,
    ]) as tf.Tensor4D;
    const w = tf.tensor(values([4, 4, 64, 128], 2), [
      4,
      4,
      64,
      128,
    ]) as tf.Tensor4D;
    const step = () =>
      tf.tidy(() =>
        tf.grads((a, b) =>
          tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, "same"))
        )([x, w])
      );
    tf.dispose(step());
    const before = tf.memory().numTensors;
    const bytes = tf.memory().numBytes;
    tf.dispose(step());
    assert.equal(tf.memory().numTensors, before);
    assert.equal(tf.memory().numBytes, bytes);
    tf.dispose([x, w]);
  },
});

Deno.test({
  name:
    "rmspropClipUpdate() on webgpu matches PyTorch's RMSprop formula and clips to [-c, c]",
  ...opts,
  fn: async () => {
    await tf.setBackend("webgpu");
    const n = 1000;
    const w0 = values([n], 7).map((v) => v * 0.02);
    const g0 = values([n], 8);
    const ms0 = values([n], 9).map((v) => v * v);
    const lr = 0.003;
    const c = 0.01;
    const [w, ms] = rmspropClipUpdate(
      tf.tensor1d(w0),
      tf.tensor1d(g0),
      tf.tensor1d(ms0),
      { learningRate: lr, clipValue: c },
    );
    const got = await w.data();
    const gotMs = await ms.data();
    let clipped = 0;
    for (let i = 0; i < n; i++) {
      const m = 0.99 * ms0[i] + 0.01 * g0[i] * g0[i];
      const v = w0[i] - lr * g0[i] / (Math.sqrt(m) + 1e-8);
      const want = Math.min(c, Math.max(-c, v));
      if (want !== v) clipped++;
      assert.ok(Math.abs(gotMs[i] - m) <= 1e-6 * Math.max(1, m), `ms[${i}]`);
      assert.ok(
        Math.abs(got[i] - want) <= 1e-7,
        `w[${i}]: ${got[i]} vs ${want}`,
      );
      assert.ok(got[i] >= -c && got[i] <= c);
    }
    assert.ok(clipped > 0, "the test should exercise clipping");
    tf.dispose([w, ms]);
  },
});

Deno.test({
  name:
    "applyRmsPropClip() updates a variable and its accumulator in place without leaking tensors",
  ...opts,
  fn: async () => {
    await tf.setBackend("webgpu");
    const v = tf.variable(tf.tensor1d([0.5, -0.5, 0.001]));
    const ms = tf.variable(tf.zeros([3]));
    const g = tf.tensor1d([1, -1, 0]);
    applyRmsPropClip(v, g, ms, { learningRate: 1e-3, clipValue: 0.01 });
    // 0.5 − 1e-3·1/(√0.01 + ε) = 0.49 → clipped to 0.01; g = 0 leaves 0.001.
    const w = await v.data();
    assert.deepEqual(Array.from(w).map((x) => Math.round(x * 1e6) / 1e6), [
      0.01,
      -0.01,
      0.001,
    ]);
    assert.ok(Math.abs((await ms.data())[0] - 0.01) < 1e-7);
    const before = tf.memory().numTensors;
    applyRmsPropClip(v, g, ms, { learningRate: 1e-3, clipValue: 0.01 });
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([v, ms, g]);
  },
});
