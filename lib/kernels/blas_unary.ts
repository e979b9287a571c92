/**
 * Float32 unary kernels for the "blas" backend (`Relu`, `LeakyRelu`, `Step`,
 * `Sqrt`, `Tanh`, `ClipByValue`, ...), each its own loop, branch-free where
 * the sign of the data would decide.
 *
 * tfjs's cpu backend builds all of these from one template that calls the
 * operation through a function value per element; that call site sees every
 * operation, so the engine cannot inline it and each element costs tens of
 * nanoseconds. Here every kernel is a literal loop.
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

type Loop = (
  x: Float32Array,
  out: Float32Array,
  attrs: tf.NamedAttrMap,
) => void;

const LOOPS: Record<string, Loop> = {
  [tf.Relu]: (x, out) => {
    // (v + |v|) / 2 is exact, and branch-free: a data-dependent branch
    // costs ~10x the arithmetic here.
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      out[i] = (v + Math.abs(v)) * 0.5;
    }
  },
  [tf.LeakyRelu]: (x, out, attrs) => {
    const alpha = (attrs as unknown as tf.LeakyReluAttrs).alpha;
    // positive part + alpha · negative part, each exact (in float64).
    for (let i = 0; i < x.length; i++) {
      const v = x[i], a = Math.abs(v);
      out[i] = (v + a) * 0.5 + alpha * ((v - a) * 0.5);
    }
  },
  [tf.Relu6]: (x, out) => {
    for (let i = 0; i < x.length; i++) {
      out[i] = x[i] < 0 ? 0 : x[i] > 6 ? 6 : x[i];
    }
  },
  [tf.Step]: (x, out, attrs) => {
    const alpha = (attrs as unknown as tf.StepAttrs).alpha;
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      if (v !== v) { // NaN stays NaN
        out[i] = v;
        continue;
      }
      const s = +(v > 0);
      out[i] = s + (1 - s) * alpha;
    }
  },
  [tf.Sqrt]: (x, out) => {
    for (let i = 0; i < x.length; i++) out[i] = Math.sqrt(x[i]);
  },
  [tf.Rsqrt]: (x, out) => {
    for (let i = 0; i < x.length; i++) out[i] = 1 / Math.sqrt(x[i]);
  },
  [tf.Tanh]: (x, out) => {
    for (let i = 0; i < x.length; i++) out[i] = Math.tanh(x[i]);
  },
  [tf.Sigmoid]: (x, out) => {
    for (let i = 0; i < x.length; i++) out[i] = 1 / (1 + Math.exp(-x[i]));
  },
  [tf.Exp]: (x, out) => {
    for (let i = 0; i < x.length; i++) out[i] = Math.exp(x[i]);
  },
  [tf.Neg]: (x, out) => {
    for (let i = 0; i < x.length; i++) out[i] = -x[i];
  },
  [tf.Abs]: (x, out) => {
    for (let i = 0; i < x.length; i++) out[i] = Math.abs(x[i]);
  },
  [tf.ClipByValue]: (x, out, attrs) => {
    const { clipValueMin: lo, clipValueMax: hi } =
      attrs as unknown as tf.ClipByValueAttrs;
    for (let i = 0; i < x.length; i++) {
      out[i] = x[i] > hi ? hi : x[i] < lo ? lo : x[i];
    }
  },
};

/** The operations {@link unaryKernelConfigs} covers. */
export const UNARY_OPS: readonly string[] = Object.keys(LOOPS);

function unary(name: string, args: BlasKernelArgs): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x } = inputs as { x: tf.TensorInfo };
  if (!allFloat32(backend, x)) return stockKernel(name, args);
  const xv = float32Values(backend, x);
  const out = new Float32Array(xv.length);
  LOOPS[name](xv, out, attrs);
  return backend.makeTensorInfo(x.shape, "float32", out);
}

/** Registration records for the unary kernels. */
export const unaryKernelConfigs: readonly tf.KernelConfig[] = UNARY_OPS.map((
  name,
) => ({
  kernelName: name,
  backendName: BLAS,
  kernelFunc:
    ((args: BlasKernelArgs) => unary(name, args)) as unknown as tf.KernelFunc,
}));
