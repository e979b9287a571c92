/**
 * Register-tiled WGSL batched matrix product for the tfjs webgpu backend
 * (`BatchMatMul`, `_FusedMatMul`): `[batch, M, K] × [batch, K, N]`, with
 * either operand transposed first when asked, and an optional fused bias and
 * activation.
 *
 * @module
 */
import type { TensorInfo } from "@tensorflow/tfjs-core";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import {
  type Epilogue,
  kvecGemmProgram,
  NO_EPILOGUE,
  type TileConfig,
  transposeProgram,
} from "./webgpu_gemm.ts";

/** Shapes of a batched product after transposes are applied. */
export interface MatMulShape {
  /** Batch entries of A and B (each either the output batch or 1). */
  batchA: number;
  batchB: number;
  /** Output batch shape (leading axes). */
  outerShape: number[];
  m: number;
  k: number;
  n: number;
}

function product(xs: number[]): number {
  return xs.reduce((p, x) => p * x, 1);
}

function broadcast(a: number[], b: number[]): number[] | null {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return null;
    out.push(Math.max(x, y));
  }
  return out;
}

/**
 * The shapes of `op(a) × op(b)`, or null when the fast kernel does not handle
 * them (rank < 2, mismatched inner sizes, batch broadcasting other than
 * equal-or-one).
 */
export function matMulShape(
  aShape: number[],
  bShape: number[],
  transposeA: boolean,
  transposeB: boolean,
): MatMulShape | null {
  if (aShape.length < 2 || bShape.length < 2) return null;
  const ra = aShape.length;
  const rb = bShape.length;
  const m = transposeA ? aShape[ra - 1] : aShape[ra - 2];
  const k = transposeA ? aShape[ra - 2] : aShape[ra - 1];
  const kb = transposeB ? bShape[rb - 1] : bShape[rb - 2];
  const n = transposeB ? bShape[rb - 2] : bShape[rb - 1];
  if (k !== kb || m * n * k === 0) return null;
  const outerA = aShape.slice(0, -2);
  const outerB = bShape.slice(0, -2);
  const outerShape = broadcast(outerA, outerB);
  if (outerShape === null) return null;
  const batchA = product(outerA);
  const batchB = product(outerB);
  const batch = product(outerShape);
  if (
    (batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1)
  ) {
    return null;
  }
  return { batchA, batchB, outerShape, m, k, n };
}

/**
 * Runs `op(a) × op(b)` (+ bias, activation) with the fast kernel; `shape`
 * comes from {@link matMulShape}.
 */
export function runMatMul(
  backend: WebGPUBackend,
  a: TensorInfo,
  b: TensorInfo,
  shape: MatMulShape,
  transposeA: boolean,
  transposeB: boolean,
  tiles: TileConfig,
  epilogue: Epilogue = NO_EPILOGUE,
  bias?: TensorInfo,
): TensorInfo {
  const { batchA, batchB, outerShape, m: M, k: K, n: N } = shape;
  const batch = product(outerShape);
  const temps: TensorInfo[] = [];
  let aIn = a;
  let bIn = b;
  if (transposeA) {
    aIn = backend.runWebGPUProgram(
      transposeProgram(batchA, K, M),
      [a],
      "float32",
    );
    temps.push(aIn);
  }
  if (transposeB) {
    bIn = backend.runWebGPUProgram(
      transposeProgram(batchB, N, K),
      [b],
      "float32",
    );
    temps.push(bIn);
  }
  const kVec = K % 4 === 0 ? 4 : 1;
  const k4 = K / kVec;
  const program = kvecGemmProgram({
    key: `mm_${batchA}_${batchB}_${batch}_${M}_${K}_${N}`,
    tiles,
    outputShape: [...outerShape, M, N],
    m: M,
    n: N,
    z: batch,
    kVec,
    aName: "a",
    bName: "b",
    prologue: `  let aB = ${batchA === 1 ? "0" : "z"}; let bB = ${
      batchB === 1 ? "0" : "z"
    };`,
    rowSetup: (r) => `
  let oRow_${r} = z * ${M} + m_${r};
  let oOk_${r} = true;`,
    segBegin: "  {",
    segRow: (r) =>
      `  aOk_${r} = true; aOff_${r} = (aB * ${M} + m_${r}) * ${k4};`,
    segBRow: `bB * ${K}`,
    kLen: K,
    segEnd: "  }",
    epilogue,
  });
  const inputs = bias ? [aIn, bIn, bias] : [aIn, bIn];
  const out = backend.runWebGPUProgram(program, inputs, "float32");
  for (const t of temps) backend.disposeData(t.dataId);
  return out;
}
