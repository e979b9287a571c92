/**
 * `FusedBatchNorm` for the "blas" backend when mean, variance, scale and
 * offset are per channel (the last dimension, as in NHWC batch norm): the
 * per-channel factor `scale / sqrt(variance + ε)` is computed once per
 * channel instead of once per element, then y = x · a + b.
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

function batchNorm(args: BlasKernelArgs): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, mean, variance, scale, offset } = inputs as {
    x: tf.TensorInfo;
    mean: tf.TensorInfo;
    variance: tf.TensorInfo;
    scale?: tf.TensorInfo;
    offset?: tf.TensorInfo;
  };
  const channels = x.shape[x.shape.length - 1];
  const perChannel = [mean, variance, scale, offset].every((t) =>
    t === undefined || tf.util.sizeFromShape(t.shape) === channels
  );
  if (!perChannel || !allFloat32(backend, x, mean, variance, scale, offset)) {
    return stockKernel(tf.FusedBatchNorm, args);
  }
  const epsilon =
    (attrs as unknown as tf.FusedBatchNormAttrs).varianceEpsilon ?? 0.001;
  const m = float32Values(backend, mean), v = float32Values(backend, variance);
  const s = scale ? float32Values(backend, scale) : undefined;
  const o = offset ? float32Values(backend, offset) : undefined;
  const a = new Float64Array(channels), b = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    a[c] = (s ? s[c] : 1) / Math.sqrt(v[c] + epsilon);
    b[c] = (o ? o[c] : 0) - m[c] * a[c];
  }
  const xv = float32Values(backend, x);
  const out = new Float32Array(xv.length);
  for (let i = 0; i < xv.length; i += channels) {
    for (let c = 0; c < channels; c++) out[i + c] = xv[i + c] * a[c] + b[c];
  }
  return backend.makeTensorInfo(x.shape, "float32", out);
}

/** Registration record for the `FusedBatchNorm` kernel. */
export const batchNormKernelConfig: tf.KernelConfig = {
  kernelName: tf.FusedBatchNorm,
  backendName: BLAS,
  kernelFunc: batchNorm as unknown as tf.KernelFunc,
};
