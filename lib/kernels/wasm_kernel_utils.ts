/**
 * Helpers for composing tfjs wasm kernels out of the backend's own kernels:
 * each call goes straight to a registered kernel function (no engine, no tape),
 * and intermediate results are freed with {@link release}.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";

/** Name of the tfjs backend these kernels are registered for. */
export const WASM = "wasm";

/** Arguments a tfjs kernel function receives. */
export interface KernelArgs {
  inputs: Record<string, tf.TensorInfo>;
  backend: BackendWasm;
  attrs: tf.NamedAttrMap;
}

// The backend's own kernels, captured before any of ours replace them.
const stock = new Map<string, tf.KernelConfig>();

/**
 * Remembers the backend's kernel `name` (if any) so that ours can still call it
 * after replacing it; returns it.
 *
 * @example
 * ```ts
 * import { keepStockKernel } from "./wasm_kernel_utils.ts";
 * keepStockKernel("BatchMatMul");
 * ```
 */
export function keepStockKernel(name: string): tf.KernelConfig | undefined {
  if (!stock.has(name)) {
    const config = tf.getKernel(name, WASM);
    if (config !== undefined) stock.set(name, config);
  }
  return stock.get(name);
}

/**
 * Runs the backend's own kernel `name` (the stock one, even when ours replaced
 * it) and returns its single output.
 *
 * @example
 * ```ts ignore
 * const t = runKernel(backend, "Transpose", { x }, { perm: [1, 0] });
 * ```
 */
export function runKernel(
  backend: BackendWasm,
  name: string,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap = {},
): tf.TensorInfo {
  const config = stock.get(name) ?? tf.getKernel(name, WASM);
  if (config === undefined) {
    throw new Error(`Expected the wasm backend to have a ${name} kernel`);
  }
  return config.kernelFunc({ inputs, backend, attrs }) as tf.TensorInfo;
}

/**
 * Frees intermediate results made inside a kernel.
 *
 * @example
 * ```ts ignore
 * release(backend, xT, dyT);
 * ```
 */
export function release(
  backend: BackendWasm,
  ...infos: tf.TensorInfo[]
): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

/**
 * A view of `x` with another shape of the same size (no copy; free only `x`).
 *
 * @example
 * ```ts ignore
 * const x2d = reshaped(x, [rows, cols]);
 * ```
 */
export function reshaped(x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  return { dataId: x.dataId, shape, dtype: x.dtype };
}

/**
 * `x` transposed by `perm` (a new tensor).
 *
 * @example
 * ```ts ignore
 * const xT = transposed(backend, x, [3, 1, 2, 0]);
 * ```
 */
export function transposed(
  backend: BackendWasm,
  x: tf.TensorInfo,
  perm: number[],
): tf.TensorInfo {
  return runKernel(backend, "Transpose", { x }, { perm });
}

/**
 * The box `[begin, begin + size)` of `x` (a new tensor).
 *
 * @example
 * ```ts ignore
 * const top = sliced(backend, x, [0, 0], [1, 4]);
 * ```
 */
export function sliced(
  backend: BackendWasm,
  x: tf.TensorInfo,
  begin: number[],
  size: number[],
): tf.TensorInfo {
  return runKernel(backend, "Slice", { x }, { begin, size });
}
