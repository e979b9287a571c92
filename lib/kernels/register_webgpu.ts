/**
 * Replaces the tfjs webgpu backend's kernels for the hot training ops
 * (`Conv2D`, `FusedConv2D`, `Conv2DBackpropInput`, `Conv2DBackpropFilter`,
 * `BatchMatMul`, `_FusedMatMul`) with the register-tiled kernels of this
 * folder. Cases the fast kernels do not handle (dilations, NCHW, other dtypes,
 * PReLU and other fused activations) go to the stock kernel.
 *
 * Registration is global (tfjs's kernel registry), so it may happen before or
 * after `tf.setBackend("webgpu")`; it must happen after the webgpu backend
 * package has been imported.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import {
  runConv2d,
  runConv2dBackpropFilter,
  runConv2dBackpropInput,
  supportsConv,
} from "./webgpu_conv.ts";
import {
  type Epilogue,
  NO_EPILOGUE,
  splitSumProgram,
  type TileConfig,
  tileConfig,
} from "./webgpu_gemm.ts";
import {
  batchNormProgram,
  binaryProgram,
  channelSumProgram,
  channelSumSplits,
  type Operand,
  operandKind,
  selectProgram,
  unaryProgram,
  vec4Ok,
} from "./webgpu_elementwise.ts";
import { matMulShape, runMatMul } from "./webgpu_matmul.ts";
import { registerRmsPropClipKernel } from "./webgpu_rmsprop.ts";

/** Options for {@link registerFastWebGpuKernels}. */
export interface FastKernelOptions {
  /**
   * Tile shapes for a software adapter (true) or a hardware GPU (false);
   * detected from the device's adapter info when omitted.
   */
  fallbackAdapter?: boolean;
}

/** Names of the kernels this module overrides. */
export const FAST_KERNEL_NAMES = [
  "Conv2D",
  "FusedConv2D",
  "Conv2DBackpropInput",
  "Conv2DBackpropFilter",
  "BatchMatMul",
  "_FusedMatMul",
  "Sum",
  "Mean",
  "Add",
  "Sub",
  "Multiply",
  "RealDiv",
  "Maximum",
  "Minimum",
  "Select",
  "Relu",
  "LeakyRelu",
  "Square",
  "FusedBatchNorm",
] as const;

// Below this many elements the stock kernels (which may run on the CPU) win.
const MIN_ELEMENTWISE = 4096;

function size(t: tf.TensorInfo): number {
  return t.shape.reduce((p, x) => p * x, 1);
}

type Args = {
  inputs: Record<string, tf.TensorInfo>;
  backend: WebGPUBackend;
  attrs: tf.NamedAttrMap;
};
type Fast = (args: Args, stock: tf.KernelFunc) => tf.TensorInfo | null;

const state: {
  options: FastKernelOptions;
  stock: Map<string, tf.KernelConfig>;
  calls: Record<string, { fast: number; stock: number }>;
} = { options: {}, stock: new Map(), calls: {} };

const detected = new WeakMap<WebGPUBackend, TileConfig>();

function tiles(backend: WebGPUBackend): TileConfig {
  if (state.options.fallbackAdapter !== undefined) {
    return tileConfig(backend, state.options.fallbackAdapter);
  }
  let t = detected.get(backend);
  if (t === undefined) {
    t = tileConfig(backend);
    detected.set(backend, t);
  }
  return t;
}

function optional(inputs: Record<string, tf.TensorInfo>): {
  bias?: tf.TensorInfo;
  preluActivationWeights?: tf.TensorInfo;
} {
  return inputs;
}

function allFloat(...ts: (tf.TensorInfo | undefined)[]): boolean {
  return ts.every((t) => t == null || t.dtype === "float32");
}

function convInfo(
  xShape: number[],
  filterShape: number[],
  attrs: tf.NamedAttrMap,
): tf.backend_util.Conv2DInfo {
  const dataFormat = tf.backend_util.convertConv2DDataFormat(
    (attrs.dataFormat as "NHWC" | "NCHW") ?? "NHWC",
  );
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as [number, number] | number,
    (attrs.dilations as [number, number] | number) ?? 1,
    attrs.pad as "same" | "valid" | number,
    attrs.dimRoundingMode as "floor" | "round" | "ceil" | undefined,
    false,
    dataFormat,
  );
}

// Bias of one value per output channel and an activation we fuse, or null.
function epilogueFor(
  attrs: tf.NamedAttrMap,
  bias: tf.TensorInfo | undefined,
  prelu: tf.TensorInfo | undefined,
  channels: number,
): Epilogue | null {
  if (prelu !== undefined) return null;
  const activation = (attrs.activation as string | undefined) ?? "linear";
  if (!["linear", "relu", "leakyrelu"].includes(activation)) return null;
  if (bias !== undefined) {
    const size = bias.shape.reduce((p, x) => p * x, 1);
    if (size !== channels || bias.shape[bias.shape.length - 1] !== channels) {
      return null;
    }
  }
  return {
    bias: bias !== undefined,
    activation: activation as Epilogue["activation"],
    leakyAlpha: (attrs.leakyreluAlpha as number | undefined) ?? 0.2,
  };
}

function binary(op: string): Fast {
  return ({ inputs, backend }) => {
    const { a, b } = inputs;
    if (!allFloat(a, b)) return null;
    const out = size(a) >= size(b) ? a.shape : b.shape;
    const kA = operandKind(a.shape, out);
    const kB = operandKind(b.shape, out);
    if (kA === null || kB === null || kA === "scalar" && kB === "scalar") {
      return null;
    }
    if (size(a) + size(b) < MIN_ELEMENTWISE || !vec4Ok([kA, kB], out)) {
      return null;
    }
    return backend.runWebGPUProgram(
      binaryProgram(op, kA, kB, out),
      [a, b],
      "float32",
    );
  };
}

function unary(op: "Relu" | "LeakyRelu" | "Square"): Fast {
  return ({ inputs, backend, attrs }) => {
    const { x } = inputs;
    if (!allFloat(x) || size(x) < MIN_ELEMENTWISE || size(x) % 4 !== 0) {
      return null;
    }
    const alpha = (attrs?.alpha as number | undefined) ?? 0.2;
    return backend.runWebGPUProgram(
      unaryProgram(op, x.shape, alpha),
      [x],
      "float32",
    );
  };
}

// Sum or mean over every axis but the last of a float tensor, else null.
function channelReduce(mean: boolean): Fast {
  return ({ inputs, backend, attrs }) => {
    const { x } = inputs;
    const rank = x.shape.length;
    if (!allFloat(x) || rank < 2) return null;
    const axes = tf.util.parseAxisParam(
      attrs.axis as number | number[],
      x.shape,
    ).sort((p, q) => p - q);
    if (axes.length !== rank - 1 || axes.some((a, i) => a !== i)) return null;
    const channels = x.shape[rank - 1];
    const rows = size(x) / channels;
    if (channels % 4 !== 0 || size(x) < MIN_ELEMENTWISE) return null;
    const splits = channelSumSplits(rows, channels);
    const partial = backend.runWebGPUProgram(
      channelSumProgram(rows, channels, splits),
      [x],
      "float32",
    );
    const outShape = attrs.keepDims
      ? [...Array(rank - 1).fill(1), channels]
      : [channels];
    const out = backend.runWebGPUProgram(
      splitSumProgram(splits, channels, outShape, mean ? 1 / rows : 1),
      [partial],
      "float32",
    );
    backend.disposeData(partial.dataId);
    return out;
  };
}

const fast: Record<typeof FAST_KERNEL_NAMES[number], Fast> = {
  Sum: channelReduce(false),
  Mean: channelReduce(true),
  Add: binary("Add"),
  Sub: binary("Sub"),
  Multiply: binary("Multiply"),
  RealDiv: binary("RealDiv"),
  Maximum: binary("Maximum"),
  Minimum: binary("Minimum"),
  Relu: unary("Relu"),
  LeakyRelu: unary("LeakyRelu"),
  Square: unary("Square"),
  Select({ inputs, backend }) {
    const { condition, t, e } = inputs;
    if (!allFloat(t, e) || condition.dtype !== "bool") return null;
    const same = (p: tf.TensorInfo) =>
      p.shape.length === t.shape.length &&
      p.shape.every((d, i) => d === t.shape[i]);
    if (!same(condition) || !same(e)) return null;
    if (size(t) < MIN_ELEMENTWISE || size(t) % 4 !== 0) return null;
    return backend.runWebGPUProgram(
      selectProgram(t.shape),
      [condition, t, e],
      "float32",
    );
  },
  FusedBatchNorm({ inputs, backend, attrs }) {
    const { x, mean, variance } = inputs;
    const { offset, scale } = inputs as {
      offset?: tf.TensorInfo;
      scale?: tf.TensorInfo;
    };
    if (!allFloat(x, mean, variance, offset, scale)) return null;
    if (size(x) < MIN_ELEMENTWISE) return null;
    const kind = (p: tf.TensorInfo) => operandKind(p.shape, x.shape);
    const kinds = {
      mean: kind(mean),
      variance: kind(variance),
      offset: offset ? kind(offset) : undefined,
      scale: scale ? kind(scale) : undefined,
    };
    const all = Object.values(kinds).filter((k) => k !== undefined);
    if (all.includes(null) || !vec4Ok(all as Operand[], x.shape)) return null;
    const program = batchNormProgram(
      x.shape,
      kinds as Parameters<typeof batchNormProgram>[1],
      attrs.varianceEpsilon as number,
    );
    const ins = [x, mean, variance];
    if (offset) ins.push(offset);
    if (scale) ins.push(scale);
    return backend.runWebGPUProgram(program, ins, "float32");
  },
  Conv2D({ inputs, backend, attrs }) {
    const { x, filter } = inputs;
    if (!allFloat(x, filter)) return null;
    const info = convInfo(x.shape, filter.shape, attrs);
    if (!supportsConv(info)) return null;
    return runConv2d(backend, x, filter, info, tiles(backend));
  },
  FusedConv2D({ inputs, backend, attrs }) {
    const { x, filter } = inputs;
    const { bias, preluActivationWeights } = optional(inputs);
    if (!allFloat(x, filter, bias)) return null;
    const info = convInfo(x.shape, filter.shape, attrs);
    if (!supportsConv(info)) return null;
    const e = epilogueFor(
      attrs,
      bias,
      preluActivationWeights,
      info.outChannels,
    );
    if (e === null) return null;
    return runConv2d(backend, x, filter, info, tiles(backend), e, bias);
  },
  Conv2DBackpropInput({ inputs, backend, attrs }) {
    const { dy, filter } = inputs;
    if (!allFloat(dy, filter)) return null;
    const info = convInfo(attrs.inputShape as number[], filter.shape, attrs);
    if (!supportsConv(info)) return null;
    return runConv2dBackpropInput(backend, dy, filter, info, tiles(backend));
  },
  Conv2DBackpropFilter({ inputs, backend, attrs }) {
    const { x, dy } = inputs;
    if (!allFloat(x, dy)) return null;
    const info = convInfo(x.shape, attrs.filterShape as number[], attrs);
    if (!supportsConv(info)) return null;
    return runConv2dBackpropFilter(backend, x, dy, info, tiles(backend));
  },
  BatchMatMul({ inputs, backend, attrs }) {
    const { a, b } = inputs;
    if (!allFloat(a, b)) return null;
    const tA = attrs.transposeA as boolean;
    const tB = attrs.transposeB as boolean;
    const shape = matMulShape(a.shape, b.shape, tA, tB);
    if (shape === null) return null;
    return runMatMul(backend, a, b, shape, tA, tB, tiles(backend));
  },
  _FusedMatMul({ inputs, backend, attrs }) {
    const { a, b } = inputs;
    const { bias, preluActivationWeights } = optional(inputs);
    if (!allFloat(a, b, bias)) return null;
    const tA = attrs.transposeA as boolean;
    const tB = attrs.transposeB as boolean;
    const shape = matMulShape(a.shape, b.shape, tA, tB);
    if (shape === null) return null;
    const e = epilogueFor(attrs, bias, preluActivationWeights, shape.n);
    if (e === null) return null;
    return runMatMul(
      backend,
      a,
      b,
      shape,
      tA,
      tB,
      tiles(backend),
      e ?? NO_EPILOGUE,
      bias,
    );
  },
};

/**
 * Registers the fast kernels for the `webgpu` backend (idempotent; a second
 * call only updates the options). Also registers the fused RMSProp-and-clip
 * kernel used by `rmspropClipUpdate`.
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-webgpu";
 * import { registerFastWebGpuKernels } from "./register_webgpu.ts";
 * registerFastWebGpuKernels();
 * registerFastWebGpuKernels({ fallbackAdapter: true }); // only updates options
 * ```
 */
export function registerFastWebGpuKernels(
  options: FastKernelOptions = {},
): void {
  state.options = { ...options };
  if (state.stock.size > 0) return;
  for (const name of FAST_KERNEL_NAMES) {
    const stock = tf.getKernel(name, "webgpu");
    if (stock === undefined) {
      throw new Error(
        `Expected the webgpu backend's ${name} kernel to be registered: import @tensorflow/tfjs-backend-webgpu first`,
      );
    }
    state.stock.set(name, stock);
    const stockFunc = stock.kernelFunc;
    const run = fast[name];
    tf.unregisterKernel(name, "webgpu");
    tf.registerKernel({
      kernelName: name,
      backendName: "webgpu",
      setupFunc: stock.setupFunc,
      disposeFunc: stock.disposeFunc,
      kernelFunc: (args) => {
        const counts = state.calls[name] ??= { fast: 0, stock: 0 };
        const out = run(args as unknown as Args, stockFunc);
        if (out !== null) {
          counts.fast++;
          return out;
        }
        counts.stock++;
        return stockFunc(args);
      },
    });
  }
  registerRmsPropClipKernel();
}

/**
 * Puts the stock webgpu kernels back (for side-by-side benchmarks).
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-webgpu";
 * import {
 *   registerFastWebGpuKernels,
 *   unregisterFastWebGpuKernels,
 * } from "./register_webgpu.ts";
 * registerFastWebGpuKernels();
 * unregisterFastWebGpuKernels();
 * ```
 */
export function unregisterFastWebGpuKernels(): void {
  for (const [name, config] of state.stock) {
    tf.unregisterKernel(name, "webgpu");
    tf.registerKernel(config);
  }
  state.stock.clear();
}

/** True while the fast kernels are registered. */
export function fastWebGpuKernelsRegistered(): boolean {
  return state.stock.size > 0;
}

/**
 * How many times each overridden kernel ran the fast path and how many times
 * it fell back to the stock kernel, since registration or the last reset.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fastKernelCalls } from "./register_webgpu.ts";
 * assert.ok(typeof fastKernelCalls(true) === "object");
 * ```
 */
export function fastKernelCalls(
  reset = false,
): Record<string, { fast: number; stock: number }> {
  const calls = structuredClone(state.calls);
  if (reset) state.calls = {};
  return calls;
}
