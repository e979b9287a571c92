/**
 * Broadcasting binary kernels for the "blas" backend (`Add`, `Sub`,
 * `Multiply`, `RealDiv`, `Maximum`, `Minimum`, `SquaredDifference` and the
 * comparisons), for float32 operands.
 *
 * tfjs's cpu kernels compute every broadcast element through index
 * arithmetic with fresh arrays (~100x slower than a loop); batch-norm's
 * per-channel terms and every `x * scalar` take that path. Here the shapes
 * are collapsed to the fewest dimensions with the same broadcast pattern and
 * the innermost one runs as a strided loop; comparisons and `Select` are
 * branch-free (a data-dependent branch costs ~10x the arithmetic).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  allFloat32,
  BLAS,
  type BlasKernelArgs,
  float32Values,
  stockKernel,
} from "./blas_kernel_utils.ts";

// out[o + j] = a[ai + j*as] ∘ b[bi + j*bs] for j < n.
type Inner = (
  out: Float32Array | Uint8Array,
  o: number,
  a: Float32Array,
  ai: number,
  as: number,
  b: Float32Array,
  bi: number,
  bs: number,
  n: number,
) => void;

// One literal loop per operation, so that each stays monomorphic.
const INNER: Record<string, Inner> = {
  [tf.Add]: (out, o, a, ai, as, b, bi, bs, n) => {
    for (let j = 0; j < n; j++, ai += as, bi += bs) out[o + j] = a[ai] + b[bi];
  },
  [tf.Sub]: (out, o, a, ai, as, b, bi, bs, n) => {
    for (let j = 0; j < n; j++, ai += as, bi += bs) out[o + j] = a[ai] - b[bi];
  },
  [tf.Multiply]: (out, o, a, ai, as, b, bi, bs, n) => {
    for (let j = 0; j < n; j++, ai += as, bi += bs) out[o + j] = a[ai] * b[bi];
  },
  [tf.RealDiv]: (out, o, a, ai, as, b, bi, bs, n) => {
    for (let j = 0; j < n; j++, ai += as, bi += bs) out[o + j] = a[ai] / b[bi];
  },
  [tf.Maximum]: (out, o, a, ai, as, b, bi, bs, n) => {
    for (let j = 0; j < n; j++, ai += as, bi += bs) {
      out[o + j] = Math.max(a[ai], b[bi]);
    }
  },
  [tf.Minimum]: (out, o, a, ai, as, b, bi, bs, n) => {
    for (let j = 0; j < n; j++, ai += as, bi += bs) {
      out[o + j] = Math.min(a[ai], b[bi]);
    }
  },
  [tf.SquaredDifference]: (out, o, a, ai, as, b, bi, bs, n) => {
    for (let j = 0; j < n; j++, ai += as, bi += bs) {
      const d = a[ai] - b[bi];
      out[o + j] = d * d;
    }
  },
  [tf.Greater]: (out, o, a, ai, as, b, bi, bs, n) => {
    for (let j = 0; j < n; j++, ai += as, bi += bs) {
      out[o + j] = +(a[ai] > b[bi]);
    }
  },
  [tf.GreaterEqual]: (out, o, a, ai, as, b, bi, bs, n) => {
    for (let j = 0; j < n; j++, ai += as, bi += bs) {
      out[o + j] = +(a[ai] >= b[bi]);
    }
  },
  [tf.Less]: (out, o, a, ai, as, b, bi, bs, n) => {
    for (let j = 0; j < n; j++, ai += as, bi += bs) {
      out[o + j] = +(a[ai] < b[bi]);
    }
  },
  [tf.LessEqual]: (out, o, a, ai, as, b, bi, bs, n) => {
    for (let j = 0; j < n; j++, ai += as, bi += bs) {
      out[o + j] = +(a[ai] <= b[bi]);
    }
  },
  [tf.Equal]: (out, o, a, ai, as, b, bi, bs, n) => {
    for (let j = 0; j < n; j++, ai += as, bi += bs) {
      out[o + j] = +(a[ai] === b[bi]);
    }
  },
  [tf.NotEqual]: (out, o, a, ai, as, b, bi, bs, n) => {
    for (let j = 0; j < n; j++, ai += as, bi += bs) {
      out[o + j] = +(a[ai] !== b[bi]);
    }
  },
};

const BOOL_RESULT = new Set<string>([
  tf.Greater,
  tf.GreaterEqual,
  tf.Less,
  tf.LessEqual,
  tf.Equal,
  tf.NotEqual,
]);

/** The operations {@link binaryKernelConfigs} covers. */
export const BINARY_OPS: readonly string[] = Object.keys(INNER);

/**
 * The output shape and, per collapsed dimension, its size and the two
 * operands' element strides (0 where broadcast), with dimensions of size 1
 * dropped and neighbours that step alike merged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { broadcastPlan } from "./blas_elementwise.ts";
 * const plan = broadcastPlan([64, 14, 14, 64], [1, 1, 1, 64]);
 * assert.ok(plan.dims.join() === "12544,64");
 * assert.ok(plan.bStrides.join() === "0,1");
 * ```
 */
export function broadcastPlan(aShape: number[], bShape: number[]): {
  shape: number[];
  dims: number[];
  aStrides: number[];
  bStrides: number[];
} {
  const shape = tf.backend_util.assertAndGetBroadcastShape(aShape, bShape);
  const r = shape.length;
  const strides = (s: number[]): number[] => {
    const out = new Array<number>(r).fill(0);
    let step = 1;
    for (let i = s.length - 1, d = r - 1; i >= 0; i--, d--) {
      out[d] = s[i] === 1 ? 0 : step;
      step *= s[i];
    }
    return out;
  };
  const as = strides(aShape), bs = strides(bShape);
  const dims: number[] = [], aStrides: number[] = [], bStrides: number[] = [];
  for (let d = 0; d < r; d++) {
    if (shape[d] === 1) continue;
    const last = dims.length - 1;
    if (
      last >= 0 &&
      aStrides[last] === as[d] * shape[d] &&
      bStrides[last] === bs[d] * shape[d]
    ) {
      // Merge into the previous dimension: same step pattern.
      dims[last] *= shape[d];
      aStrides[last] = as[d];
      bStrides[last] = bs[d];
    } else {
      dims.push(shape[d]);
      aStrides.push(as[d]);
      bStrides.push(bs[d]);
    }
  }
  return { shape, dims, aStrides, bStrides };
}

function binary(name: string, args: BlasKernelArgs): tf.TensorInfo {
  const { inputs, backend } = args;
  const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  if (!allFloat32(backend, a, b)) return stockKernel(name, args);
  const { shape, dims, aStrides, bStrides } = broadcastPlan(a.shape, b.shape);
  const size = tf.util.sizeFromShape(shape);
  const bool = BOOL_RESULT.has(name);
  const out = bool ? new Uint8Array(size) : new Float32Array(size);
  const inner = INNER[name];
  const av = float32Values(backend, a), bv = float32Values(backend, b);
  const r = dims.length;
  if (r === 0) {
    inner(out, 0, av, 0, 0, bv, 0, 0, size);
  } else {
    // Odometer over all but the innermost dimension.
    const n = dims[r - 1], as = aStrides[r - 1], bs = bStrides[r - 1];
    const index = new Array<number>(r).fill(0);
    let ai = 0, bi = 0;
    for (let o = 0; o < size; o += n) {
      inner(out, o, av, ai, as, bv, bi, bs, n);
      for (let d = r - 2; d >= 0; d--) {
        ai += aStrides[d];
        bi += bStrides[d];
        if (++index[d] < dims[d]) break;
        ai -= aStrides[d] * dims[d];
        bi -= bStrides[d] * dims[d];
        index[d] = 0;
      }
    }
  }
  return backend.makeTensorInfo(shape, bool ? "bool" : "float32", out);
}

function bits(x: Float32Array): Int32Array {
  return new Int32Array(x.buffer, x.byteOffset, x.length);
}

// `Select` with a condition of the result's shape; tfjs's cpu kernel
// otherwise (a condition per row).
function select(args: BlasKernelArgs): tf.TensorInfo {
  const { inputs, backend } = args;
  const { condition, t, e } = inputs as {
    condition: tf.TensorInfo;
    t: tf.TensorInfo;
    e: tf.TensorInfo;
  };
  const c = backend.data.get(condition.dataId).values;
  const n = tf.util.sizeFromShape(t.shape);
  if (
    !allFloat32(backend, t, e) || !(c instanceof Uint8Array) ||
    c.length !== n || tf.util.sizeFromShape(e.shape) !== n
  ) {
    return stockKernel(tf.Select, args);
  }
  // Chosen bit by bit (mask 0 or -1): exact, NaN-safe and branch-free.
  const tv = bits(float32Values(backend, t)),
    ev = bits(float32Values(backend, e));
  const out = new Float32Array(n), ov = bits(out);
  for (let i = 0; i < n; i++) {
    const mask = -c[i];
    ov[i] = (tv[i] & mask) | (ev[i] & ~mask);
  }
  return backend.makeTensorInfo(t.shape, "float32", out);
}

/** Registration record for the `Select` kernel. */
export const selectKernelConfig: tf.KernelConfig = {
  kernelName: tf.Select,
  backendName: BLAS,
  kernelFunc: select as unknown as tf.KernelFunc,
};

/** Registration records for the binary kernels. */
export const binaryKernelConfigs: readonly tf.KernelConfig[] = BINARY_OPS.map((
  name,
) => ({
  kernelName: name,
  backendName: BLAS,
  kernelFunc:
    ((args: BlasKernelArgs) => binary(name, args)) as unknown as tf.KernelFunc,
}));
