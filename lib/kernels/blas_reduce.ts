/**
 * `Sum` and `Mean` for the "blas" backend over any run of adjacent axes of a
 * float32 tensor, without the transpose that tfjs's cpu kernels make first
 * (batch norm's moments reduce `[B, H, W, C]` over its first three axes).
 * The tensor is seen as `[outer, reduced, inner]`; long sums run in OpenBLAS
 * as a row of ones times a matrix, short ones in JS in float64.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { sgemm } from "./blas_ffi.ts";
import {
  allFloat32,
  BLAS,
  type BlasKernelArgs,
  float32Values,
  stockKernel,
} from "./blas_kernel_utils.ts";

/** From this many reduced values on, the sum runs in OpenBLAS. */
export const BLAS_MIN_REDUCED = 1024;

let ones = new Float32Array(0);
function onesOf(n: number): Float32Array {
  if (ones.length < n) ones = new Float32Array(n).fill(1);
  return ones.subarray(0, n);
}

function reduce(name: string, args: BlasKernelArgs): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x } = inputs as { x: tf.TensorInfo };
  const { axis, keepDims } = attrs as unknown as tf.SumAttrs;
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
  const adjacent = axes.every((a, i) => i === 0 || a === axes[i - 1] + 1);
  if (!allFloat32(backend, x) || !adjacent) return stockKernel(name, args);
  const shape = x.shape;
  const first = axes.length ? axes[0] : 0;
  const end = axes.length ? axes[axes.length - 1] + 1 : 0;
  const outer = tf.util.sizeFromShape(shape.slice(0, first));
  const reduced = tf.util.sizeFromShape(shape.slice(first, end));
  const inner = tf.util.sizeFromShape(shape.slice(end));
  const xv = float32Values(backend, x);
  const out = new Float32Array(outer * inner);
  const scale = name === tf.Mean ? 1 / reduced : 1;
  if (reduced >= BLAS_MIN_REDUCED) {
    // Row of ones times the [reduced, inner] matrix of each outer index.
    const ones = onesOf(reduced);
    for (let o = 0; o < outer; o++) {
      sgemm(
        1,
        inner,
        reduced,
        { data: ones, ld: reduced },
        {
          data: xv,
          offset: o * reduced * inner,
          ld: inner,
        },
        { data: out, offset: o * inner, ld: inner },
        { alpha: scale },
      );
    }
  } else if (inner === 1) {
    for (let o = 0; o < outer; o++) {
      let sum = 0;
      const base = o * reduced;
      for (let r = 0; r < reduced; r++) sum += xv[base + r];
      out[o] = sum * scale;
    }
  } else {
    const acc = new Float64Array(inner);
    for (let o = 0; o < outer; o++) {
      acc.fill(0);
      let i = o * reduced * inner;
      for (let r = 0; r < reduced; r++) {
        for (let j = 0; j < inner; j++) acc[j] += xv[i++];
      }
      for (let j = 0; j < inner; j++) out[o * inner + j] = acc[j] * scale;
    }
  }
  const outShape = keepDims
    ? shape.map((s, d) => (d >= first && d < end ? 1 : s))
    : [...shape.slice(0, first), ...shape.slice(end)];
  return backend.makeTensorInfo(outShape, "float32", out);
}

/** Registration records for `Sum` and `Mean`. */
export const reduceKernelConfigs: readonly tf.KernelConfig[] = [
  tf.Sum,
  tf.Mean,
].map((name) => ({
  kernelName: name,
  backendName: BLAS,
  kernelFunc:
    ((args: BlasKernelArgs) => reduce(name, args)) as unknown as tf.KernelFunc,
}));
