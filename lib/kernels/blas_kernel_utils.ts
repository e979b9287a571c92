/**
 * What the "blas" backend's kernels share: the backend name, typed access to
 * a tensor's values, the fallback to the stock cpu kernel, and the fused
 * bias-plus-activation epilogue.
 *
 * The "blas" backend is a tfjs `MathBackendCPU`, so a tensor's data is a
 * plain typed array in `backend.data.get(dataId).values`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";

/** Name of the backend the kernels register for. */
export const BLAS = "blas";

/** Arguments every kernel function receives. */
export interface BlasKernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: MathBackendCPU;
  attrs: tf.NamedAttrMap;
}

/** The Float32Array behind a float32 tensor. */
export function float32Values(
  backend: MathBackendCPU,
  t: tf.TensorInfo,
): Float32Array {
  return backend.data.get(t.dataId).values as Float32Array;
}

/** True when every tensor is float32 and stored as a Float32Array. */
export function allFloat32(
  backend: MathBackendCPU,
  ...ts: (tf.TensorInfo | undefined)[]
): boolean {
  return ts.every((t) =>
    t === undefined ||
    (t.dtype === "float32" &&
      backend.data.get(t.dataId).values instanceof Float32Array)
  );
}

/** Runs another kernel of this backend (the stock one unless we replaced it). */
export function runKernel(
  name: string,
  args: BlasKernelArgs,
): tf.TensorInfo {
  const kernel = tf.getKernel(name, BLAS);
  if (!kernel) throw new Error(`Expected kernel ${name} for backend ${BLAS}`);
  return kernel.kernelFunc(
    args as unknown as Parameters<tf.KernelFunc>[0],
  ) as tf.TensorInfo;
}

/** Runs tfjs's cpu kernel `name` for the cases ours do not handle. */
export function stockKernel(
  name: string,
  args: BlasKernelArgs,
): tf.TensorInfo {
  const kernel = tf.getKernel(name, "cpu");
  if (!kernel) throw new Error(`Expected kernel ${name} for backend cpu`);
  return kernel.kernelFunc(
    args as unknown as Parameters<tf.KernelFunc>[0],
  ) as tf.TensorInfo;
}

/** Activations that fused kernels may ask for (tfjs's `Activation`). */
export type Activation =
  | "linear"
  | "relu"
  | "prelu"
  | "elu"
  | "relu6"
  | "leakyrelu"
  | "sigmoid";

function activateInPlace(
  v: Float32Array,
  activation: Activation,
  alpha: number,
): void {
  const n = v.length;
  switch (activation) {
    case "relu":
      for (let i = 0; i < n; i++) if (v[i] < 0) v[i] = 0;
      return;
    case "relu6":
      for (let i = 0; i < n; i++) v[i] = v[i] < 0 ? 0 : v[i] > 6 ? 6 : v[i];
      return;
    case "leakyrelu":
      for (let i = 0; i < n; i++) if (v[i] < 0) v[i] *= alpha;
      return;
    case "elu":
      for (let i = 0; i < n; i++) if (v[i] < 0) v[i] = Math.exp(v[i]) - 1;
      return;
    case "sigmoid":
      for (let i = 0; i < n; i++) v[i] = 1 / (1 + Math.exp(-v[i]));
      return;
  }
}

/**
 * Adds `bias` (broadcast over `[..., n]`) to the freshly computed `values`
 * in place and applies `activation`, as tfjs's fused kernels do; returns the
 * result as a tensor of `shape`. Per-channel and scalar biases and all
 * activations but prelu run inline; the rest goes through the backend's
 * `Add` and `Prelu` kernels.
 */
export function biasActivation(
  backend: MathBackendCPU,
  values: Float32Array,
  shape: number[],
  fused: {
    bias?: tf.TensorInfo;
    activation?: Activation;
    leakyreluAlpha?: number;
    preluActivationWeights?: tf.TensorInfo;
  },
): tf.TensorInfo {
  const { bias, preluActivationWeights } = fused;
  const activation = fused.activation ?? "linear";
  const n = shape[shape.length - 1];
  let current = backend.makeTensorInfo(shape, "float32", values);
  if (bias) {
    const size = tf.util.sizeFromShape(bias.shape);
    const perChannel = (size === n && bias.shape[bias.shape.length - 1] === n &&
      bias.shape.length <= shape.length) || size === 1;
    if (perChannel && allFloat32(backend, bias)) {
      const b = float32Values(backend, bias);
      if (size === 1) {
        const b0 = b[0];
        for (let i = 0; i < values.length; i++) values[i] += b0;
      } else {
        for (let i = 0; i < values.length; i += n) {
          for (let j = 0; j < n; j++) values[i + j] += b[j];
        }
      }
    } else {
      const added = runKernel("Add", {
        inputs: { a: current, b: bias },
        backend,
        attrs: {},
      });
      backend.disposeIntermediateTensorInfo(current);
      current = added;
    }
  }
  if (activation === "linear") return current;
  if (activation === "prelu") {
    const out = runKernel("Prelu", {
      inputs: { x: current, alpha: preluActivationWeights! },
      backend,
      attrs: {},
    });
    backend.disposeIntermediateTensorInfo(current);
    return out;
  }
  if (
    !["relu", "relu6", "leakyrelu", "elu", "sigmoid"].includes(activation)
  ) {
    backend.disposeIntermediateTensorInfo(current);
    throw new Error(
      `Expected a fused activation linear, relu, relu6, prelu, elu, leakyrelu or sigmoid, got ${activation}`,
    );
  }
  activateInPlace(
    float32Values(backend, current),
    activation,
    fused.leakyreluAlpha ?? 0.2,
  );
  return current;
}
