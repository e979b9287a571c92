/**
 * The "blas" backend: tfjs's cpu backend with its matrix products and
 * convolutions (forward and both gradients) replaced by OpenBLAS's sgemm,
 * called through Deno's FFI.
 *
 * It is a `MathBackendCPU` carrying a copy of every cpu kernel, with
 * `BatchMatMul`, `_FusedMatMul`, `Conv2D`, `FusedConv2D`,
 * `Conv2DBackpropInput` and `Conv2DBackpropFilter` overridden (see
 * `kernels/blas_*.ts`), and the cpu kernels that would then dominate
 * (broadcasting arithmetic, unary operations, `Sum`/`Mean`, `Tile`, batch
 * norm) replaced by plain loops, and `LeakyRelu`'s gradient fused into one
 * pass while "blas" is active (see `kernels/blas_gradients.ts`);
 * cases those do not handle (dilations, NCHW, other dtypes) run the stock
 * kernels. Tensors live in ordinary typed arrays, so
 * results match the cpu backend within float rounding.
 *
 * Needs OpenBLAS (Debian: `libopenblas0-pthread`) and `--allow-ffi`;
 * `--allow-env=OPENBLAS_LIB` lets `$OPENBLAS_LIB` name the library.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import {
  type BlasAvailability,
  blasAvailable,
  blasThreads,
  setBlasThreads,
} from "./kernels/blas_ffi.ts";
import { BLAS } from "./kernels/blas_kernel_utils.ts";
import {
  blasBatchMatMulConfig,
  blasFusedMatMulConfig,
} from "./kernels/blas_matmul.ts";
import {
  blasConv2DBackpropFilterConfig,
  blasConv2DBackpropInputConfig,
  blasConv2DConfig,
  blasFusedConv2DConfig,
} from "./kernels/blas_conv2d.ts";
import { batchNormKernelConfig } from "./kernels/blas_batch_norm.ts";
import {
  binaryKernelConfigs,
  selectKernelConfig,
} from "./kernels/blas_elementwise.ts";
import {
  leakyReluGradKernelConfig,
  registerBlasGradients,
} from "./kernels/blas_gradients.ts";
import { reduceKernelConfigs } from "./kernels/blas_reduce.ts";
import { tileKernelConfig } from "./kernels/blas_tile.ts";
import { unaryKernelConfigs } from "./kernels/blas_unary.ts";

export { type BlasAvailability, blasAvailable };

/** The backend's name, for `tf.setBackend`. */
export const BLAS_BACKEND = BLAS;

/** The kernels the backend runs on OpenBLAS. */
export const BLAS_KERNELS: readonly tf.KernelConfig[] = [
  blasBatchMatMulConfig,
  blasFusedMatMulConfig,
  blasConv2DConfig,
  blasFusedConv2DConfig,
  blasConv2DBackpropInputConfig,
  blasConv2DBackpropFilterConfig,
];

/**
 * The backend's other replacements for slow cpu kernels: broadcasting
 * binary operations and `Select`, unary operations, `Sum`/`Mean` over
 * adjacent axes, `Tile`, per-channel `FusedBatchNorm`, and the fused
 * leaky-ReLU gradient.
 */
export const FAST_CPU_KERNELS: readonly tf.KernelConfig[] = [
  ...binaryKernelConfigs,
  selectKernelConfig,
  ...unaryKernelConfigs,
  ...reduceKernelConfigs,
  tileKernelConfig,
  batchNormKernelConfig,
  leakyReluGradKernelConfig,
];

/** Options for {@link initBlasBackend}. */
export interface BlasBackendOptions {
  /** OpenBLAS threads. Default: the logical core count. */
  threads?: number;
  /** Make "blas" the active backend. Default true. */
  setBackend?: boolean;
}

/** What {@link initBlasBackend} started. */
export interface BlasBackendInfo {
  /** The OpenBLAS library loaded. */
  path: string;
  /** Threads OpenBLAS uses. */
  threads: number;
}

/** Error for OpenBLAS or the FFI permission missing. */
export class BlasUnavailableError extends Error {
  override name = "BlasUnavailableError";
}

function registerKernels(): void {
  // Every cpu kernel first, then ours over the top.
  for (const config of tf.getKernelsForBackend("cpu")) {
    if (!tf.getKernel(config.kernelName, BLAS)) {
      tf.registerKernel({ ...config, backendName: BLAS });
    }
  }
  for (const config of [...BLAS_KERNELS, ...FAST_CPU_KERNELS]) {
    const current = tf.getKernel(config.kernelName, BLAS);
    if (current?.kernelFunc === config.kernelFunc) continue;
    if (current) tf.unregisterKernel(config.kernelName, BLAS);
    tf.registerKernel(config);
  }
  registerBlasGradients();
}

/**
 * Loads OpenBLAS, registers the "blas" backend and its kernels, sets the
 * thread count and (by default) makes "blas" the active backend. Throws a
 * {@link BlasUnavailableError} with a one-line reason when OpenBLAS or the
 * FFI permission is missing. Calling it again re-selects the backend.
 *
 * @example
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBlasBackend } from "./blas_backend.ts";
 * const { path, threads } = await initBlasBackend({ threads: 2 });
 * assert.ok(tf.getBackend() === "blas");
 * ```
 */
export async function initBlasBackend(
  options: BlasBackendOptions = {},
): Promise<BlasBackendInfo> {
  const available = blasAvailable();
  if (!available.ok) throw new BlasUnavailableError(available.reason);
  const threads = options.threads ??
    Math.max(1, navigator.hardwareConcurrency || 1);
  setBlasThreads(threads);
  registerKernels();
  if (tf.findBackendFactory(BLAS) === null) {
    // Priority 0: never picked unless asked for by name.
    tf.registerBackend(BLAS, () => new MathBackendCPU(), 0);
  }
  if ((options.setBackend ?? true) && !(await tf.setBackend(BLAS))) {
    throw new BlasUnavailableError("The blas backend failed to initialise");
  }
  await tf.ready();
  return { path: available.path, threads: blasThreads() };
}
