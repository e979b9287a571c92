/**
 * Element-wise and reduction kernels for the tfjs webgpu backend, for the
 * shapes batch norm, bias gradients and activation gradients produce:
 * same-shape, scalar and per-channel broadcasts of NHWC tensors, and sums
 * over every axis but the channels.
 *
 * On a software adapter the stock kernels cost far more than their
 * arithmetic: one element per invocation and thousands of workgroups, each
 * with a fixed scheduling cost. These read vec4s and loop over many elements
 * per invocation in a few dozen workgroups.
 *
 * @module
 */
import type { WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";
import { f32 } from "./webgpu_gemm.ts";

/** Invocations a channel reduction aims for. */
const INVOCATIONS = 64 * 32;

function product(xs: number[]): number {
  return xs.reduce((p, x) => p * x, 1);
}

/** How an operand is indexed relative to the output. */
export type Operand = "full" | "scalar" | "channel";

/**
 * How `shape` broadcasts against an output of shape `out` (NHWC-style, last
 * axis the channels), or null for a pattern these kernels do not handle.
 */
export function operandKind(shape: number[], out: number[]): Operand | null {
  const size = product(shape);
  if (shape.length === out.length && shape.every((d, i) => d === out[i])) {
    return "full";
  }
  if (size === 1) return "scalar";
  const c = out[out.length - 1];
  if (
    size === c && shape[shape.length - 1] === c &&
    shape.length <= out.length
  ) return "channel";
  return null;
}

/** True when every operand of an element-wise op can be read as vec4. */
export function vec4Ok(kinds: Operand[], out: number[]): boolean {
  const size = product(out);
  const c = out[out.length - 1];
  return size % 4 === 0 &&
    (!kinds.includes("channel") || c % 4 === 0);
}

function load(name: string, kind: Operand, c4: number): string {
  if (kind === "full") return `${name}[i]`;
  if (kind === "scalar") return `vec4<f32>(${name}[0])`;
  return `${name}[i % ${c4}]`;
}

function gridStride(
  key: string,
  variableNames: string[],
  variableComponents: number[],
  outputShape: number[],
  body: string,
): WebGPUProgram {
  // One vec4 per invocation: measured faster on llvmpipe than looping over
  // many elements per invocation in fewer workgroups.
  const len4 = product(outputShape) / 4;
  const groups = Math.ceil(len4 / 64);
  const gx = Math.min(groups, 65535);
  const code = `
fn main() {
  if (uniforms.NAN == 1.0) { return; } // binds the uniforms (auto layout)
  let i = i32(globalId.x) + i32(globalId.y) * ${gx * 64};
  if (i < ${len4}) {
${body}
  }
}`;
  return {
    variableNames,
    variableComponents,
    outputComponent: 4,
    outputShape,
    shaderKey: `fastEw_${key}_${outputShape.join("x")}`,
    dispatchLayout: { x: [0], y: [1], z: [2] },
    dispatch: [gx, Math.ceil(groups / gx), 1],
    workgroupSize: [64, 1, 1],
    getUserCode: () => code,
  };
}

/** WGSL for the float binary ops we take over. */
export const BINARY_OPS: Record<string, string> = {
  Add: "a + b",
  Sub: "a - b",
  Multiply: "a * b",
  RealDiv: "a / b",
  Maximum: "max(a, b)",
  Minimum: "min(a, b)",
};

/** A binary element-wise op with full, scalar or per-channel operands. */
export function binaryProgram(
  op: string,
  aKind: Operand,
  bKind: Operand,
  outputShape: number[],
): WebGPUProgram {
  const c4 = outputShape[outputShape.length - 1] / 4;
  const comp = (k: Operand) => (k === "scalar" ? 1 : 4);
  return gridStride(
    `bin${op}_${aKind}_${bKind}`,
    ["a", "b"],
    [comp(aKind), comp(bKind)],
    outputShape,
    `    let a = ${load("a", aKind, c4)};
    let b = ${load("b", bKind, c4)};
    result[i] = ${BINARY_OPS[op]};`,
  );
}

/** `select(condition, t, e)` on same-shape operands (condition stored as i32). */
export function selectProgram(outputShape: number[]): WebGPUProgram {
  return gridStride(
    "select",
    ["c", "t", "e"],
    [4, 4, 4],
    outputShape,
    `    result[i] = select(e[i], t[i], c[i] != vec4<i32>(0));`,
  );
}

/** Float unary ops we take over; `alpha` is the LeakyRelu slope. */
export function unaryProgram(
  op: "Relu" | "LeakyRelu" | "Square",
  outputShape: number[],
  alpha = 0,
): WebGPUProgram {
  const expr = op === "Relu"
    ? "max(x[i], vec4<f32>(0.0))"
    : op === "Square"
    ? "x[i] * x[i]"
    : `select(x[i] * ${f32(alpha)}, x[i], x[i] >= vec4<f32>(0.0))`;
  return gridStride(
    `un${op}${op === "LeakyRelu" ? alpha : ""}`,
    ["x"],
    [4],
    outputShape,
    `    result[i] = ${expr};`,
  );
}

/**
 * Batch norm in inference form with per-channel (or scalar) statistics:
 * `(x − mean)·scale/√(variance + ε) + offset`.
 */
export function batchNormProgram(
  outputShape: number[],
  kinds: {
    mean: Operand;
    variance: Operand;
    offset?: Operand;
    scale?: Operand;
  },
  epsilon: number,
): WebGPUProgram {
  const c4 = outputShape[outputShape.length - 1] / 4;
  const names = ["x", "mean", "variance"];
  const comps = [4, kinds.mean === "scalar" ? 1 : 4];
  comps.push(kinds.variance === "scalar" ? 1 : 4);
  if (kinds.offset) {
    names.push("offset");
    comps.push(kinds.offset === "scalar" ? 1 : 4);
  }
  if (kinds.scale) {
    names.push("scale");
    comps.push(kinds.scale === "scalar" ? 1 : 4);
  }
  const scale = kinds.scale ? load("scale", kinds.scale, c4) : "vec4<f32>(1.0)";
  const offset = kinds.offset
    ? load("offset", kinds.offset, c4)
    : "vec4<f32>(0.0)";
  return gridStride(
    `bn_${JSON.stringify(kinds)}_${epsilon}`,
    names,
    comps,
    outputShape,
    `    let inv = ${scale} * inverseSqrt(${
      load("variance", kinds.variance, c4)
    } + ${f32(epsilon)});
    result[i] = (x[i] - ${load("mean", kinds.mean, c4)}) * inv + ${offset};`,
  );
}

/** Number of row slices a channel reduction over `rows` rows uses. */
export function channelSumSplits(rows: number, channels: number): number {
  const c4 = channels / 4;
  return Math.max(1, Math.min(rows, Math.floor(INVOCATIONS / c4)));
}

/**
 * Partial sums over rows of a `[rows, C]` tensor (C % 4 == 0): output
 * `[splits, C]`, to be finished by `splitSumProgram`.
 */
export function channelSumProgram(
  rows: number,
  channels: number,
  splits: number,
): WebGPUProgram {
  const c4 = channels / 4;
  const total = splits * c4;
  const groups = Math.ceil(total / 64);
  const code = `
fn main() {
  if (uniforms.NAN == 1.0) { return; } // binds the uniforms (auto layout)
  let g = i32(globalId.x);
  if (g >= ${total}) { return; }
  let s = g / ${c4};
  let c = g - s * ${c4};
  var acc = vec4<f32>(0.0);
  for (var r = s; r < ${rows}; r += ${splits}) {
    acc = acc + x[r * ${c4} + c];
  }
  result[g] = acc;
}`;
  return {
    variableNames: ["x"],
    variableComponents: [4],
    outputComponent: 4,
    outputShape: [splits, channels],
    shaderKey: `fastChannelSum_${rows}_${channels}_${splits}`,
    dispatchLayout: { x: [0], y: [1], z: [2] },
    dispatch: [groups, 1, 1],
    workgroupSize: [64, 1, 1],
    getUserCode: () => code,
  };
}
