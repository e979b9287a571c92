/**
 * A fused RMSProp step with optional weight clipping, PyTorch's update rule:
 *
 *     ms ← α·ms + (1 − α)·g²
 *     w  ← w − lr · g / (√ms + ε)
 *     w  ← clamp(w, −c, c)        (critic variables only)
 *
 * On the webgpu backend it is one dispatch per variable that reads w, g and
 * ms and writes the new w and ms; elsewhere it runs the same formula with
 * tfjs ops.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { FusedRmsPropUpdate } from "../rmsprop.ts";

/** Name of the fused kernel in tfjs's registry. */
export const RMSPROP_CLIP_KERNEL = "FastRmsPropClip";

/** Hyper-parameters of {@link rmspropClipUpdate}. */
export interface RmsPropClipOptions {
  /** Learning rate (the paper: 5e-5). */
  learningRate: number;
  /** Decay of the mean square, PyTorch's `alpha` (default 0.99). */
  alpha?: number;
  /** Added to the root mean square (PyTorch's default 1e-8). */
  epsilon?: number;
  /** Clip the updated weights to [-clipValue, clipValue]; none when omitted. */
  clipValue?: number;
}

const FLT_MAX = 3.4028234663852886e38;

const SHADER = `
struct Params { h: vec4<f32>, clip: f32, n: i32 };
@group(0) @binding(0) var<storage, read> w: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> ms: array<f32>;
@group(0) @binding(3) var<storage, read_write> wOut: array<f32>;
@group(0) @binding(4) var<storage, read_write> msOut: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;
// h = (lr, alpha, 1 - alpha, eps)
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let i = i32(id.x) + i32(id.y) * ${65535 * 64};
  if (i >= p.n) { return; }
  let gi = g[i];
  let m = p.h.y * ms[i] + p.h.z * (gi * gi);
  msOut[i] = m;
  let v = w[i] - p.h.x * (gi / (sqrt(m) + p.h.w));
  wOut[i] = clamp(v, -p.clip, p.clip);
}`;

const pipelines = new WeakMap<GPUDevice, GPUComputePipeline>();

// The backend's command-recording internals we drive directly (tfjs 4.22).
interface BackendInternals {
  device: GPUDevice;
  commandEncoder: GPUCommandEncoder | null;
  computePassEncoder: GPUComputePassEncoder | null;
  dispatchCountInPass: number;
  commandQueueOwnedIds: WeakSet<object>;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  uploadToGPU(dataId: object): void;
  tensorToBinding(t: tf.TensorInfo): GPUBindingResource;
  makeUniforms(
    u: { type: string; data: number[] }[],
  ): GPUBindingResource;
  makeTensorInfo(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

function rmspropKernel(
  args: {
    inputs: Record<string, tf.TensorInfo>;
    backend: unknown;
    attrs?: tf.NamedAttrMap;
  },
): tf.TensorInfo[] {
  const { w, g, ms } = args.inputs;
  const attrs = args.attrs ?? {};
  const backend = args.backend as BackendInternals;
  const n = w.shape.reduce((p, x) => p * x, 1);
  const wOut = backend.makeTensorInfo(w.shape, "float32");
  const msOut = backend.makeTensorInfo(ms.shape, "float32");
  if (n === 0) return [wOut, msOut];
  const all = [w, g, ms, wOut, msOut];
  for (const t of all) backend.uploadToGPU(t.dataId);
  const device = backend.device;
  let pipeline = pipelines.get(device);
  if (pipeline === undefined) {
    pipeline = device.createComputePipeline({
      layout: "auto",
      compute: {
        module: device.createShaderModule({ code: SHADER }),
        entryPoint: "main",
      },
    });
    pipelines.set(device, pipeline);
  }
  const alpha = attrs.alpha as number;
  const uniforms = backend.makeUniforms([
    {
      type: "float32",
      data: [
        attrs.learningRate as number,
        alpha,
        1 - alpha,
        attrs.epsilon as number,
      ],
    },
    { type: "float32", data: [attrs.clipValue as number] },
    { type: "int32", data: [n] },
  ]);
  const bindGroup = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [...all.map((t) => backend.tensorToBinding(t)), uniforms].map((
      resource,
      binding,
    ) => ({ binding, resource })),
  });
  backend.ensureCommandEncoderReady();
  if (backend.computePassEncoder === null) {
    backend.computePassEncoder = backend.commandEncoder!.beginComputePass({});
  }
  const groups = Math.ceil(n / 64);
  backend.computePassEncoder.setPipeline(pipeline);
  backend.computePassEncoder.setBindGroup(0, bindGroup);
  backend.computePassEncoder.dispatchWorkgroups(
    Math.min(groups, 65535),
    Math.ceil(groups / 65535),
  );
  for (const t of all) backend.commandQueueOwnedIds.add(t.dataId);
  backend.dispatchCountInPass++;
  const batch = tf.env().getNumber("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE");
  if (backend.dispatchCountInPass >= batch) {
    backend.endComputePassEncoder();
    backend.submitQueue();
  }
  return [wOut, msOut];
}

/** Registers the fused kernel for the webgpu backend (idempotent). */
export function registerRmsPropClipKernel(): void {
  if (tf.getKernel(RMSPROP_CLIP_KERNEL, "webgpu") !== undefined) return;
  tf.registerKernel({
    kernelName: RMSPROP_CLIP_KERNEL,
    backendName: "webgpu",
    kernelFunc: rmspropKernel as unknown as tf.KernelFunc,
  });
}

/**
 * One RMSProp step (and clip) for one variable: returns the new weights and
 * the new mean square as fresh tensors; the inputs are left untouched.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { rmspropClipUpdate } from "./webgpu_rmsprop.ts";
 * await tf.setBackend("cpu");
 * const [w, ms] = rmspropClipUpdate(
 *   tf.tensor1d([0.5]),
 *   tf.tensor1d([2]),
 *   tf.tensor1d([0]),
 *   { learningRate: 0.1, clipValue: 0.01 },
 * );
 * // 0.5 − 0.1 · 2 / √0.04 = −0.5, clipped to −0.01
 * assert.ok(w.dataSync()[0] === Math.fround(-0.01));
 * assert.ok(Math.abs(ms.dataSync()[0] - 0.04) < 1e-6);
 * ```
 */
export function rmspropClipUpdate(
  w: tf.Tensor,
  grad: tf.Tensor,
  meanSquare: tf.Tensor,
  options: RmsPropClipOptions,
): [tf.Tensor, tf.Tensor] {
  const alpha = options.alpha ?? 0.99;
  const epsilon = options.epsilon ?? 1e-8;
  const clipValue = options.clipValue ?? FLT_MAX;
  const fused = tf.getBackend() === "webgpu" &&
    tf.getKernel(RMSPROP_CLIP_KERNEL, "webgpu") !== undefined &&
    w.dtype === "float32" && grad.dtype === "float32";
  if (fused) {
    const out = tf.engine().runKernel(
      RMSPROP_CLIP_KERNEL,
      { w, g: grad, ms: meanSquare },
      { learningRate: options.learningRate, alpha, epsilon, clipValue },
    ) as tf.Tensor[];
    return [out[0], out[1]];
  }
  return tf.tidy(() => {
    const ms = tf.add(
      tf.mul(meanSquare, alpha),
      tf.mul(tf.square(grad), 1 - alpha),
    );
    const step = tf.div(grad, tf.add(tf.sqrt(ms), epsilon));
    const updated = tf.sub(w, tf.mul(step, options.learningRate));
    return [tf.clipByValue(updated, -clipValue, clipValue), ms];
  }) as [tf.Tensor, tf.Tensor];
}

/**
 * Applies {@link rmspropClipUpdate} in place to a variable and its mean-square
 * accumulator (both `tf.Variable`s).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { applyRmsPropClip } from "./webgpu_rmsprop.ts";
 * await tf.setBackend("cpu");
 * const w = tf.variable(tf.tensor1d([0.5, -0.5]));
 * const ms = tf.variable(tf.zeros([2]));
 * applyRmsPropClip(w, tf.tensor1d([1, -1]), ms, { learningRate: 1, clipValue: 0.01 });
 * // each weight steps 10 against its gradient, then is clipped
 * assert.deepEqual([...w.dataSync()], [Math.fround(-0.01), Math.fround(0.01)]);
 * ```
 */
export function applyRmsPropClip(
  variable: tf.Variable,
  grad: tf.Tensor,
  meanSquare: tf.Variable,
  options: RmsPropClipOptions,
): void {
  const [w, ms] = rmspropClipUpdate(variable, grad, meanSquare, options);
  variable.assign(w);
  meanSquare.assign(ms);
  w.dispose();
  ms.dispose();
}

/**
 * The fused update in the shape `RmsProp` (lib/rmsprop.ts) accepts as its
 * `fused` argument: one dispatch per variable on webgpu.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { RmsProp } from "../rmsprop.ts";
 * import { fusedRmsPropUpdate } from "./webgpu_rmsprop.ts";
 * await tf.setBackend("cpu");
 * const w = tf.variable(tf.tensor1d([1]));
 * const opt = new RmsProp([w], { lr: 0.1 }, fusedRmsPropUpdate);
 * opt.step([tf.tensor1d([2])]);
 * assert.ok(Math.abs(w.dataSync()[0]) < 1e-6);
 * ```
 */
export const fusedRmsPropUpdate: FusedRmsPropUpdate = (
  variable,
  meanSquare,
  gradient,
  options,
) => {
  applyRmsPropClip(variable, gradient, meanSquare, {
    learningRate: options.lr,
    alpha: options.alpha,
    epsilon: options.eps,
    clipValue: options.clipValue,
  });
};
