/**
 * A one-pass leaky-ReLU gradient for the "blas" backend.
 *
 * tfjs computes the gradient of `LeakyRelu` as three full-size operations,
 * `where(x > 0, dy, dy * alpha)` (`Greater`, `Multiply`, `Select`), each
 * allocating and walking a fresh array; in dcgan28's critic that is about a
 * tenth of a training iteration. Gradients are registered per kernel name,
 * for every backend at once, so {@link registerBlasGradients} replaces
 * `LeakyRelu`'s gradient with one that runs the fused kernel
 * `BlasLeakyReluGrad` when "blas" is the active backend and tfjs's own
 * gradient everywhere else. Results are bit-identical to tfjs's.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  BLAS,
  type BlasKernelArgs,
  float32Values,
} from "./blas_kernel_utils.ts";

/** Name of the fused kernel: dy where x > 0, else dy · alpha. */
export const LEAKY_RELU_GRAD = "BlasLeakyReluGrad";

// `dy · (x > 0 ? 1 : alpha)`, with tfjs's rounding: alpha as a float32
// scalar, the product rounded to float32 on store.
function leakyReluGrad(args: BlasKernelArgs): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
  if (!tf.util.arraysEqual(dy.shape, x.shape)) {
    throw new Error(
      `Expected dy and x of one shape, got [${dy.shape}] and [${x.shape}]`,
    );
  }
  const alpha = Math.fround((attrs as unknown as tf.LeakyReluAttrs).alpha);
  const dyv = float32Values(backend, dy), xv = float32Values(backend, x);
  const out = new Float32Array(dyv.length);
  for (let i = 0; i < out.length; i++) {
    // Branch-free: a data-dependent branch costs ~10x the arithmetic.
    const s = +(xv[i] > 0);
    out[i] = dyv[i] * (s + (1 - s) * alpha);
  }
  return backend.makeTensorInfo(dy.shape, "float32", out);
}

/** Registration record for the fused leaky-ReLU gradient kernel. */
export const leakyReluGradKernelConfig: tf.KernelConfig = {
  kernelName: LEAKY_RELU_GRAD,
  backendName: BLAS,
  kernelFunc: leakyReluGrad as unknown as tf.KernelFunc,
};

// Marks a gradient config installed here, so that registering twice does not
// wrap the wrapper.
const WRAPPED = Symbol("blasWrapped");
type Wrapped = tf.GradConfig & { [WRAPPED]?: tf.GradConfig };

/**
 * Routes `LeakyRelu`'s gradient to {@link leakyReluGradKernelConfig}'s kernel
 * while "blas" is the active backend and its float32 inputs allow it; other
 * backends keep tfjs's gradient. Safe to call more than once.
 *
 * @example
 * ```ts ignore
 * import { registerBlasGradients } from "./blas_gradients.ts";
 * registerBlasGradients();
 * ```
 */
export function registerBlasGradients(): void {
  const current = tf.getGradient(tf.LeakyRelu) as Wrapped | undefined;
  if (!current || current[WRAPPED]) return;
  const stock = current;
  const wrapped: Wrapped = {
    kernelName: tf.LeakyRelu,
    inputsToSave: stock.inputsToSave,
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      const fused = tf.getBackend() === BLAS && !Array.isArray(dy) &&
        dy.dtype === "float32" && x.dtype === "float32" &&
        tf.util.arraysEqual(dy.shape, x.shape);
      if (!fused) return stock.gradFunc(dy, saved, attrs);
      return {
        x: () =>
          tf.engine().runKernel(
            LEAKY_RELU_GRAD,
            { dy, x } as unknown as tf.NamedTensorMap,
            attrs,
          ) as tf.Tensor,
      };
    },
    [WRAPPED]: stock,
  };
  tf.registerGradient(wrapped);
}
