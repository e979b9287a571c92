/**
 * `BatchMatMul` for the tfjs wasm backend that keeps every single (unbatched)
 * product on XNNPACK: the backend runs a product on XNNPACK only when neither
 * operand is transposed and falls back to a scalar triple loop otherwise, and
 * the dense layers' gradients (`dy · Wᵀ`, `xᵀ · dy`) always transpose. Here a
 * transposed operand is transposed explicitly first, which costs one pass
 * over it.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  keepStockKernel,
  type KernelArgs,
  release,
  reshaped,
  transposed,
  WASM,
} from "./wasm_kernel_utils.ts";

// `x` as a plain [rows, cols] matrix, transposed if asked; `owned` says whether
// the result is a new tensor to free.
function asMatrix(
  args: KernelArgs,
  x: tf.TensorInfo,
  transpose: boolean,
): { m: tf.TensorInfo; owned: boolean } {
  const r = x.shape.length;
  const m = reshaped(x, [x.shape[r - 2], x.shape[r - 1]]);
  if (!transpose) return { m, owned: false };
  return { m: transposed(args.backend, m, [1, 0]), owned: true };
}

/**
 * The kernel function: inputs `{a, b}`, attributes `{transposeA, transposeB}`
 * as tfjs's `BatchMatMul`.
 *
 * @example
 * ```ts ignore
 * tf.registerKernel(batchMatMulConfig);
 * ```
 */
export function batchMatMul(args: KernelArgs): tf.TensorInfo {
  const stock = keepStockKernel(tf.BatchMatMul)!;
  const { a, b } = args.inputs;
  const { transposeA, transposeB } = args
    .attrs as unknown as tf.BatchMatMulAttrs;
  const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
  if (
    (!transposeA && !transposeB) || batchA !== 1 || batchB !== 1 ||
    a.dtype !== "float32"
  ) {
    return stock.kernelFunc(
      args as unknown as Parameters<tf.KernelFunc>[0],
    ) as tf.TensorInfo;
  }
  const am = asMatrix(args, a, transposeA);
  const bm = asMatrix(args, b, transposeB);
  const out = stock.kernelFunc({
    inputs: { a: am.m, b: bm.m },
    backend: args.backend,
    attrs: { transposeA: false, transposeB: false },
  }) as tf.TensorInfo;
  if (am.owned) release(args.backend, am.m);
  if (bm.owned) release(args.backend, bm.m);
  // Keep the rank of the inputs (a leading batch of 1 when they had one).
  const outShape = [
    ...(a.shape.length > b.shape.length ? a.shape : b.shape).slice(0, -2),
    out.shape[out.shape.length - 2],
    out.shape[out.shape.length - 1],
  ];
  return reshaped(out, outShape);
}

/** Registration record for {@link batchMatMul}. */
export const batchMatMulConfig: tf.KernelConfig = {
  kernelName: tf.BatchMatMul,
  backendName: WASM,
  kernelFunc: batchMatMul as unknown as tf.KernelFunc,
};
