/**
 * Registers our kernels into the tfjs wasm backend: the missing
 * `Conv2DBackpropFilter`, and fast replacements for `Conv2DBackpropInput`
 * (transposed convolution), `BatchMatMul` with a transposed operand, `Tile`,
 * and LeakyReLU with its gradient's `Greater` and `Select`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { batchMatMulConfig } from "./wasm_batch_matmul.ts";
import { conv2dBackpropFilterConfig } from "./wasm_conv2d_backprop_filter.ts";
import { conv2dBackpropInputConfig } from "./wasm_conv2d_backprop_input.ts";
import { keepStockKernel, WASM } from "./wasm_kernel_utils.ts";
import { leakyReluConfigs } from "./wasm_leaky_relu.ts";
import { tileConfig } from "./wasm_tile.ts";

/** The kernels {@link registerWasmKernels} installs. */
export const WASM_KERNELS: readonly tf.KernelConfig[] = [
  conv2dBackpropFilterConfig,
  conv2dBackpropInputConfig,
  batchMatMulConfig,
  tileConfig,
  ...leakyReluConfigs,
];

/**
 * Registers {@link WASM_KERNELS} for the "wasm" backend, replacing the stock
 * kernels of the same names (which ours still call for the cases they handle
 * well). Idempotent; call it before or after the backend is initialised.
 * Needs `@tensorflow/tfjs-backend-wasm` to have been imported.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-wasm";
 * import { registerWasmKernels } from "./register_wasm.ts";
 * registerWasmKernels();
 * assert.ok(tf.getKernel("Conv2DBackpropFilter", "wasm") !== undefined);
 * ```
 */
export function registerWasmKernels(): void {
  for (const config of WASM_KERNELS) {
    const current = tf.getKernel(config.kernelName, WASM);
    if (current?.kernelFunc === config.kernelFunc) continue;
    const stock = keepStockKernel(config.kernelName);
    if (current !== undefined) tf.unregisterKernel(config.kernelName, WASM);
    // The stock kernel's setup (binding its wasm function) must still run when
    // the backend starts, since ours may call it.
    tf.registerKernel({ ...config, setupFunc: stock?.setupFunc });
  }
}
