/**
 * `Tile` for the tfjs wasm backend as block copies on the wasm heap: the
 * backend's element-by-element loop takes ~85 ms to broadcast a `[1, 1, 1, 64]`
 * batch-norm parameter to `[64, 14, 14, 64]`; copying whole rows and then
 * whole repeated blocks takes well under a millisecond.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { keepStockKernel, type KernelArgs, WASM } from "./wasm_kernel_utils.ts";

type Heap = Float32Array | Int32Array | Uint8Array;

/**
 * The kernel function: input `{x}`, attribute `{reps}` as tfjs's `Tile`.
 *
 * @example
 * ```ts ignore
 * tf.registerKernel(tileConfig);
 * ```
 */
export function tile(args: KernelArgs): tf.TensorInfo {
  const { backend } = args;
  const { x } = args.inputs;
  const { reps } = args.attrs as unknown as tf.TileAttrs;
  if (x.dtype === "string" || x.shape.length === 0) {
    return keepStockKernel(tf.Tile)!.kernelFunc(
      args as unknown as Parameters<tf.KernelFunc>[0],
    ) as tf.TensorInfo;
  }
  const shape = x.shape;
  const rank = shape.length;
  const outShape = shape.map((d, i) => d * reps[i]);
  const out = backend.makeOutput(outShape, x.dtype);
  if (tf.util.sizeFromShape(outShape) === 0) return out;
  const src = backend.typedArrayFromHeap(x) as Heap;
  const dst = backend.typedArrayFromHeap(out) as Heap;
  const inStrides = tf.util.computeStrides(shape).concat(1);
  const outStrides = tf.util.computeStrides(outShape).concat(1);

  // Writes the tiled image of x's sub-block at (dim, srcAt) to dstAt: first the
  // un-repeated block, then copies of it.
  const fill = (dim: number, srcAt: number, dstAt: number): void => {
    const block = shape[dim] * outStrides[dim]; // one repetition along dim
    if (dim === rank - 1) {
      dst.set(src.subarray(srcAt, srcAt + shape[dim]), dstAt);
    } else {
      for (let i = 0; i < shape[dim]; i++) {
        fill(dim + 1, srcAt + i * inStrides[dim], dstAt + i * outStrides[dim]);
      }
    }
    for (let r = 1; r < reps[dim]; r++) {
      dst.copyWithin(dstAt + r * block, dstAt, dstAt + block);
    }
  };
  fill(0, 0, 0);
  return out;
}

/** Registration record for {@link tile}. */
export const tileConfig: tf.KernelConfig = {
  kernelName: tf.Tile,
  backendName: WASM,
  kernelFunc: tile as unknown as tf.KernelFunc,
};
