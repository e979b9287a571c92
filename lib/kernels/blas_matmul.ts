/**
 * `BatchMatMul` and `_FusedMatMul` for the "blas" backend: one OpenBLAS
 * sgemm per batch entry (or one in all when the right operand is shared and
 * the left one is not transposed), transposes passed to sgemm rather than
 * materialised, bias and activation fused into one pass over the output.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { sgemm } from "./blas_ffi.ts";
import {
  type Activation,
  allFloat32,
  biasActivation,
  BLAS,
  type BlasKernelArgs,
  float32Values,
  stockKernel,
} from "./blas_kernel_utils.ts";

// Output shape and values of op(a) · op(b) over broadcast batch dimensions.
function product(
  backend: MathBackendCPU,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transA: boolean,
  transB: boolean,
): { shape: number[]; values: Float32Array } {
  const ra = a.shape.length, rb = b.shape.length;
  const m = transA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = transA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kb = transB ? b.shape[rb - 1] : b.shape[rb - 2];
  const n = transB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (k !== kb) {
    throw new Error(
      `Error in matMul: inner shapes (${k}) and (${kb}) of Tensors with shapes ${a.shape} and ${b.shape} and transposeA=${transA} and transposeB=${transB} must match.`,
    );
  }
  const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
  const outer = tf.backend_util.assertAndGetBroadcastShape(
    a.shape.slice(0, -2),
    b.shape.slice(0, -2),
  );
  const batch = Math.max(batchA, batchB);
  const shape = [...outer, m, n];
  const out = new Float32Array(batch * m * n);
  const av = float32Values(backend, a), bv = float32Values(backend, b);
  const lda = transA ? m : k, ldb = transB ? k : n;
  if (batchB === 1 && !transA) {
    // Every A shares B: stack the A's into one [batch*m, k] product.
    sgemm(batch * m, n, k, { data: av, ld: lda }, { data: bv, ld: ldb }, {
      data: out,
      ld: n,
    }, { transB });
    return { shape, values: out };
  }
  for (let i = 0; i < batch; i++) {
    sgemm(
      m,
      n,
      k,
      { data: av, offset: (i % batchA) * m * k, ld: lda },
      { data: bv, offset: (i % batchB) * k * n, ld: ldb },
      { data: out, offset: i * m * n, ld: n },
      { transA, transB },
    );
  }
  return { shape, values: out };
}

/**
 * The `BatchMatMul` kernel function (attributes `transposeA`, `transposeB`).
 *
 * @example
 * ```ts ignore
 * tf.registerKernel(blasBatchMatMulConfig);
 * ```
 */
export function blasBatchMatMul(args: BlasKernelArgs): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
  if (!allFloat32(backend, a, b)) return stockKernel(tf.BatchMatMul, args);
  const { shape, values } = product(
    backend,
    a,
    b,
    !!transposeA,
    !!transposeB,
  );
  return backend.makeTensorInfo(shape, "float32", values);
}

/**
 * The `_FusedMatMul` kernel function: op(a) · op(b) + bias, then the
 * activation (`linear`, `relu`, `relu6`, `leakyrelu`, `elu`, `sigmoid`,
 * `prelu`).
 *
 * @example
 * ```ts ignore
 * tf.registerKernel(blasFusedMatMulConfig);
 * ```
 */
export function blasFusedMatMul(args: BlasKernelArgs): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { a, b, bias, preluActivationWeights } = inputs as {
    a: tf.TensorInfo;
    b: tf.TensorInfo;
    bias?: tf.TensorInfo;
    preluActivationWeights?: tf.TensorInfo;
  };
  const { transposeA, transposeB, activation, leakyreluAlpha } =
    attrs as unknown as tf._FusedMatMulAttrs;
  if (!allFloat32(backend, a, b)) return stockKernel(tf._FusedMatMul, args);
  const { shape, values } = product(
    backend,
    a,
    b,
    !!transposeA,
    !!transposeB,
  );
  return biasActivation(backend, values, shape, {
    bias,
    activation: activation as Activation,
    leakyreluAlpha,
    preluActivationWeights,
  });
}

/** Registration record for {@link blasBatchMatMul}. */
export const blasBatchMatMulConfig: tf.KernelConfig = {
  kernelName: tf.BatchMatMul,
  backendName: BLAS,
  kernelFunc: blasBatchMatMul as unknown as tf.KernelFunc,
};

/** Registration record for {@link blasFusedMatMul}. */
export const blasFusedMatMulConfig: tf.KernelConfig = {
  kernelName: tf._FusedMatMul,
  backendName: BLAS,
  kernelFunc: blasFusedMatMul as unknown as tf.KernelFunc,
};
