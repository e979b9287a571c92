/**
 * Shared code generation for register-tiled WGSL matrix kernels that run
 * inside the tfjs webgpu backend (`backend.runWebGPUProgram`).
 *
 * Every kernel computes a matrix product `C[z][m][n] = Σ_k A[m][k] · B[k][n]`
 * where each invocation owns a `tm × tn` block of C held in registers, with no
 * workgroup memory and no barriers: on a software adapter (llvmpipe) every
 * storage-buffer load is a scalar loop over the SIMD lanes, so the larger the
 * block per invocation, the fewer loads per multiply-add. On a hardware GPU
 * smaller blocks and more invocations are better; {@link tileConfig} picks.
 *
 * Shapes are baked into the WGSL source as constants (divisions by constants,
 * known loop bounds), so each distinct shape compiles its own pipeline; the
 * shader key carries every baked value.
 *
 * @module
 */
import type {
  WebGPUBackend,
  WebGPUProgram,
} from "@tensorflow/tfjs-backend-webgpu";

/** Register-tile shape and workgroup budget for one kind of adapter. */
export interface TileConfig {
  /** Output rows per invocation. */
  tm: number;
  /** Output columns per invocation (a multiple of 4). */
  tn: number;
  /** Invocations per workgroup. */
  invocations: number;
  /** Minimum number of workgroups a split-K kernel aims for. */
  minWorkgroups: number;
}

/** Large register tiles: best on software adapters (llvmpipe, SwiftShader). */
export const SOFTWARE_TILES: TileConfig = {
  tm: 16,
  tn: 16,
  invocations: 64,
  minWorkgroups: 8,
};

/** Small register tiles, many invocations: for hardware GPUs. */
export const HARDWARE_TILES: TileConfig = {
  tm: 4,
  tn: 4,
  invocations: 256,
  minWorkgroups: 64,
};

/**
 * Picks the tile configuration for a backend's adapter, unless `fallback`
 * forces one (true: software tiles, false: hardware tiles).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SOFTWARE_TILES, tileConfig } from "./webgpu_gemm.ts";
 * // deno-lint-ignore no-explicit-any
 * assert.ok(tileConfig({} as any, true) === SOFTWARE_TILES);
 * ```
 */
export function tileConfig(
  backend: WebGPUBackend,
  fallback?: boolean,
): TileConfig {
  if (fallback === undefined) {
    const info =
      (backend.device as GPUDevice & { adapterInfo?: GPUAdapterInfo })
        .adapterInfo;
    fallback = isSoftwareAdapter(info);
  }
  return fallback ? SOFTWARE_TILES : HARDWARE_TILES;
}

/** True for adapters that run shaders on the CPU. */
export function isSoftwareAdapter(info: GPUAdapterInfo | undefined): boolean {
  if (info === undefined) return false;
  const flagged = (info as GPUAdapterInfo & { isFallbackAdapter?: boolean })
    .isFallbackAdapter;
  if (flagged) return true;
  return /llvmpipe|lavapipe|swiftshader|softpipe/i.test(
    `${info.description} ${info.device} ${info.architecture}`,
  );
}

/** Smallest power of two ≥ n. */
export function pow2Ceil(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Workgroup shape [x over column blocks, y over row blocks, 1]. */
export function workgroupFor(
  colBlocks: number,
  rowBlocks: number,
  invocations: number,
): [number, number, number] {
  const x = Math.min(pow2Ceil(colBlocks), Math.min(16, invocations));
  const y = Math.max(1, Math.min(invocations / x, pow2Ceil(rowBlocks)));
  return [x, y, 1];
}

/** Fused epilogue applied to each output vec4 before it is stored. */
export interface Epilogue {
  /** Add `bias[n]` (a variable named `bias`, one value per column). */
  bias: boolean;
  /** Activation applied after the bias. */
  activation: "linear" | "relu" | "leakyrelu";
  /** Slope for `leakyrelu`. */
  leakyAlpha: number;
}

/** The identity epilogue. */
export const NO_EPILOGUE: Epilogue = {
  bias: false,
  activation: "linear",
  leakyAlpha: 0,
};

/** WGSL float literal for a JS number. */
export function f32(x: number): string {
  const s = String(Math.fround(x));
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

function activate(v: string, e: Epilogue): string {
  if (e.activation === "relu") return `max(${v}, vec4<f32>(0.0))`;
  if (e.activation === "leakyrelu") {
    return `select(${v} * ${f32(e.leakyAlpha)}, ${v}, ${v} >= vec4<f32>(0.0))`;
  }
  return v;
}

function epilogueKey(e: Epilogue): string {
  return `${e.bias ? "b" : ""}${e.activation}${
    e.activation === "leakyrelu" ? e.leakyAlpha : ""
  }`;
}

/**
 * A product whose A operand is read along k, as vec4 when `kVec` is 4, and
 * whose B operand is a dense row-major `[K, N]` matrix (the filter, or a
 * matrix), read as vec4 along n when N % 4 === 0.
 *
 * The reduction is split into segments (filter taps); within a segment A is
 * contiguous along k and B's rows are consecutive.
 */
export interface KvecGemmSpec {
  /** Shader key; must determine every other field. */
  key: string;
  tiles: TileConfig;
  /** Shape of the output tensor (its size is z·m·n for stored rows). */
  outputShape: number[];
  /** Rows and columns of C (per z). */
  m: number;
  n: number;
  /** Number of z slices (batch entries or phases). */
  z: number;
  /** 4 when A is contiguous along k with k % 4 === 0 within segments. */
  kVec: 1 | 4;
  /** Names of the A and B variables (A first in `variableNames`). */
  aName: string;
  bName: string;
  /** WGSL run once per invocation; may use `z` (i32). */
  prologue: string;
  /** WGSL for row r: may use `m_r` (clamped row index); must define `oRow_r` and `oOk_r`. */
  rowSetup: (r: number) => string;
  /** Opens the segment loops. */
  segBegin: string;
  /** WGSL for row r within a segment: must assign `aOff_r` (in units of kVec) and `aOk_r`. */
  segRow: (r: number) => string;
  /** WGSL expression: the row of B where the segment starts. */
  segBRow: string;
  /** Reduction length of one segment (a multiple of kVec). */
  kLen: number;
  /** Closes the segment loops. */
  segEnd: string;
  epilogue: Epilogue;
}

const LANES = ["x", "y", "z", "w"];

/** Builds the WebGPUProgram for a {@link KvecGemmSpec}. */
export function kvecGemmProgram(spec: KvecGemmSpec): WebGPUProgram {
  const { m: M, n: N, kVec, tiles } = spec;
  if (N === 1 && kVec === 4) return dotGemmProgram(spec);
  const nVec = N % 4 === 0;
  let tn = Math.min(tiles.tn, Math.ceil(N / 4) * 4);
  let tm = tiles.tm;
  // With large tiles (software adapters), keep at least 8 column blocks so
  // that the 8 SIMD lanes of a workgroup share one row block (and its A
  // loads): narrower, taller tiles for narrow outputs (measured ~10% faster
  // on the 64-channel transposed conv).
  while (tm >= 16 && tm < 32 && tn > 4 && Math.ceil(N / tn) < 8 && N >= 32) {
    tn /= 2;
    tm *= 2;
  }
  const tn4 = tn / 4;
  const n4 = N / 4;
  const colBlocks = Math.ceil(N / tn);
  const rowBlocks = Math.ceil(M / tm);
  const workgroupSize = workgroupFor(colBlocks, rowBlocks, tiles.invocations);
  const dispatch: [number, number, number] = [
    Math.ceil(colBlocks / workgroupSize[0]),
    Math.ceil(rowBlocks / workgroupSize[1]),
    spec.z,
  ];
  const a = spec.aName;
  const b = spec.bName;
  const rows = [...Array(tm).keys()];
  const cols = [...Array(tn4).keys()];
  const L: string[] = [];
  L.push(`fn main() {`);
  L.push(
    `  if (uniforms.NAN == 1.0) { return; } // binds the uniforms (auto layout)`,
  );
  L.push(`  let nb = i32(globalId.x); let mb = i32(globalId.y);`);
  L.push(`  let z = i32(globalId.z);`);
  L.push(`  if (nb >= ${colBlocks} || mb >= ${rowBlocks}) { return; }`);
  L.push(`  let n0 = nb * ${tn}; let m0 = mb * ${tm};`);
  L.push(spec.prologue);
  for (const r of rows) {
    L.push(`  let m_${r} = min(m0 + ${r}, ${M - 1});`);
    L.push(spec.rowSetup(r));
    L.push(`  var aOff_${r} = 0; var aOk_${r} = false;`);
  }
  for (const r of rows) {
    for (const c of cols) L.push(`  var acc_${r}_${c} = vec4<f32>(0.0);`);
  }
  for (const c of cols) {
    if (nVec) L.push(`  let bc_${c} = min(n0 / 4 + ${c}, ${n4 - 1});`);
    else {
      for (let e = 0; e < 4; e++) {
        L.push(`  let bc_${c}_${e} = min(n0 + ${4 * c + e}, ${N - 1});`);
      }
    }
  }
  L.push(spec.segBegin);
  for (const r of rows) L.push(spec.segRow(r));
  L.push(`  let bRow = ${spec.segBRow};`);
  L.push(`  for (var kq = 0; kq < ${spec.kLen / kVec}; kq++) {`);
  for (let j = 0; j < kVec; j++) {
    const row = kVec === 4 ? `bRow + kq * 4 + ${j}` : `bRow + kq`;
    for (const c of cols) {
      if (nVec) {
        L.push(`    let b_${j}_${c} = ${b}[(${row}) * ${n4} + bc_${c}];`);
      } else {
        const parts = [0, 1, 2, 3].map((e) =>
          `${b}[(${row}) * ${N} + bc_${c}_${e}]`
        );
        L.push(`    let b_${j}_${c} = vec4<f32>(${parts.join(", ")});`);
      }
    }
  }
  const zeroA = kVec === 4 ? "vec4<f32>(0.0)" : "0.0";
  for (const r of rows) {
    L.push(
      `    let a_${r} = select(${zeroA}, ${a}[aOff_${r} + kq], aOk_${r});`,
    );
  }
  for (let j = 0; j < kVec; j++) {
    for (const r of rows) {
      const av = kVec === 4 ? `a_${r}.${LANES[j]}` : `a_${r}`;
      for (const c of cols) {
        L.push(
          `    acc_${r}_${c} = fma(vec4<f32>(${av}), b_${j}_${c}, acc_${r}_${c});`,
        );
      }
    }
  }
  L.push(`  }`);
  L.push(spec.segEnd);
  // Epilogue and stores.
  const e = spec.epilogue;
  for (const c of cols) {
    if (e.bias) {
      if (nVec) L.push(`  let bias_${c} = bias[bc_${c}];`);
      else {
        const parts = [0, 1, 2, 3].map((q) => `bias[bc_${c}_${q}]`);
        L.push(`  let bias_${c} = vec4<f32>(${parts.join(", ")});`);
      }
    }
  }
  for (const r of rows) {
    L.push(`  if (m0 + ${r} < ${M} && oOk_${r}) {`);
    for (const c of cols) {
      const v0 = e.bias ? `(acc_${r}_${c} + bias_${c})` : `acc_${r}_${c}`;
      const v = activate(v0, e);
      if (nVec) {
        L.push(`    if (n0 / 4 + ${c} < ${n4}) {`);
        L.push(`      result[oRow_${r} * ${n4} + n0 / 4 + ${c}] = ${v};`);
        L.push(`    }`);
      } else {
        L.push(`    { let v = ${v};`);
        for (let q = 0; q < 4; q++) {
          const col = `n0 + ${4 * c + q}`;
          L.push(
            `      if (${col} < ${N}) { result[oRow_${r} * ${N} + ${col}] = v.${
              LANES[q]
            }; }`,
          );
        }
        L.push(`    }`);
      }
    }
    L.push(`  }`);
  }
  L.push(`}`);
  const code = L.join("\n");
  const variableNames = e.bias ? [a, b, "bias"] : [a, b];
  return {
    variableNames,
    variableComponents: e.bias
      ? [kVec, nVec ? 4 : 1, nVec ? 4 : 1]
      : [kVec, nVec ? 4 : 1],
    outputComponent: nVec ? 4 : 1,
    outputShape: spec.outputShape,
    shaderKey: `fastKvec_${spec.key}_${tm}x${tn}_${workgroupSize.join("x")}_${
      epilogueKey(e)
    }`,
    dispatchLayout: { x: [0], y: [1], z: [2] },
    dispatch,
    workgroupSize,
    getUserCode: () => code,
  };
}

// N = 1 with k % 4 == 0: B is one column, contiguous along k, so both operands
// are read as vec4 along k and each row keeps a vec4 of partial dot products.
function dotGemmProgram(spec: KvecGemmSpec): WebGPUProgram {
  const { m: M, tiles } = spec;
  const tm = tiles.tm * 2;
  const rowBlocks = Math.ceil(M / tm);
  const workgroupSize: [number, number, number] = [
    Math.min(tiles.invocations, pow2Ceil(rowBlocks)),
    1,
    1,
  ];
  const a = spec.aName;
  const b = spec.bName;
  const rows = [...Array(tm).keys()];
  const L: string[] = [];
  L.push(`fn main() {
  if (uniforms.NAN == 1.0) { return; } // binds the uniforms (auto layout)
  let mb = i32(globalId.x); let z = i32(globalId.z);
  if (mb >= ${rowBlocks}) { return; }
  let m0 = mb * ${tm};`);
  L.push(spec.prologue);
  for (const r of rows) {
    L.push(`  let m_${r} = min(m0 + ${r}, ${M - 1});`);
    L.push(spec.rowSetup(r));
    L.push(`  var aOff_${r} = 0; var aOk_${r} = false;`);
    L.push(`  var acc_${r} = vec4<f32>(0.0);`);
  }
  L.push(spec.segBegin);
  for (const r of rows) L.push(spec.segRow(r));
  L.push(`  let bRow4 = (${spec.segBRow}) / 4;`);
  L.push(`  for (var kq = 0; kq < ${spec.kLen / 4}; kq++) {`);
  L.push(`    let bv = ${b}[bRow4 + kq];`);
  for (const r of rows) {
    L.push(
      `    acc_${r} = fma(select(vec4<f32>(0.0), ${a}[aOff_${r} + kq], aOk_${r}), bv, acc_${r});`,
    );
  }
  L.push(`  }`);
  L.push(spec.segEnd);
  const e = spec.epilogue;
  if (e.bias) L.push(`  let bias0 = vec4<f32>(bias[0]);`);
  for (const r of rows) {
    const v0 = `vec4<f32>(dot(acc_${r}, vec4<f32>(1.0)))${
      e.bias ? " + bias0" : ""
    }`;
    L.push(`  if (m0 + ${r} < ${M} && oOk_${r}) {
    result[oRow_${r}] = (${activate(v0, e)}).x;
  }`);
  }
  L.push(`}`);
  const code = L.join("\n");
  return {
    variableNames: e.bias ? [a, b, "bias"] : [a, b],
    variableComponents: e.bias ? [4, 4, 1] : [4, 4],
    outputComponent: 1,
    outputShape: spec.outputShape,
    shaderKey: `fastDot_${spec.key}_${tm}_${workgroupSize[0]}_${
      epilogueKey(e)
    }`,
    dispatchLayout: { x: [0], y: [1], z: [2] },
    dispatch: [Math.ceil(rowBlocks / workgroupSize[0]), 1, spec.z],
    workgroupSize,
    getUserCode: () => code,
  };
}

/**
 * A program computing `out[i] = Σ_s partial[s][i]` over the leading axis of a
 * `[S, size]` tensor: the reduction after a split-K kernel.
 */
export function splitSumProgram(
  splits: number,
  size: number,
  outputShape: number[],
  scale = 1,
): WebGPUProgram {
  const vec = size % 4 === 0;
  const len = vec ? size / 4 : size;
  const t = vec ? "vec4<f32>" : "f32";
  const code = `
fn main() {
  if (uniforms.NAN == 1.0) { return; } // binds the uniforms (auto layout)
  let i = i32(globalId.x) + i32(globalId.y) * ${65535 * 64};
  if (i >= ${len}) { return; }
  var s = ${t}(0.0);
  for (var k = 0; k < ${splits}; k++) { s = s + partial[k * ${len} + i]; }
  result[i] = s${scale === 1 ? "" : ` * ${f32(scale)}`};
}`;
  const groups = Math.ceil(len / 64);
  return {
    variableNames: ["partial"],
    variableComponents: [vec ? 4 : 1],
    outputComponent: vec ? 4 : 1,
    outputShape,
    shaderKey: `fastSplitSum_${splits}_${size}_${scale}`,
    dispatchLayout: { x: [0], y: [1], z: [2] },
    dispatch: [Math.min(groups, 65535), Math.ceil(groups / 65535), 1],
    workgroupSize: [64, 1, 1],
    getUserCode: () => code,
  };
}

/**
 * A program transposing the last two axes of a `[batch, rows, cols]` tensor.
 */
export function transposeProgram(
  batch: number,
  rows: number,
  cols: number,
): WebGPUProgram {
  const size = batch * rows * cols;
  const code = `
fn main() {
  if (uniforms.NAN == 1.0) { return; } // binds the uniforms (auto layout)
  let i = i32(globalId.x) + i32(globalId.y) * ${65535 * 64};
  if (i >= ${size}) { return; }
  // i indexes the output [batch, cols, rows].
  let bz = i / ${rows * cols};
  let rem = i - bz * ${rows * cols};
  let c = rem / ${rows};
  let r = rem - c * ${rows};
  result[i] = x[bz * ${rows * cols} + r * ${cols} + c];
}`;
  const groups = Math.ceil(size / 64);
  return {
    variableNames: ["x"],
    outputShape: [batch, cols, rows],
    shaderKey: `fastTranspose_${batch}_${rows}_${cols}`,
    dispatchLayout: { x: [0], y: [1], z: [2] },
    dispatch: [Math.min(groups, 65535), Math.ceil(groups / 65535), 1],
    workgroupSize: [64, 1, 1],
    getUserCode: () => code,
  };
}
