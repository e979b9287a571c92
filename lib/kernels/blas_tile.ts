/**
 * `Tile` for the "blas" backend: the whole tensor is repeated one dimension
 * at a time, innermost first, as block copies (`TypedArray.set`) rather than
 * tfjs's cpu kernel's per-element index arithmetic.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { BLAS, type BlasKernelArgs, stockKernel } from "./blas_kernel_utils.ts";

type Numeric = Float32Array | Int32Array | Uint8Array;

/**
 * Repeats `values` of `shape` `reps[d]` times along each dimension d.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tileValues } from "./blas_tile.ts";
 * const out = tileValues(new Float32Array([1, 2]), [1, 2], [2, 2]);
 * assert.ok(out.join() === "1,2,1,2,1,2,1,2");
 * ```
 */
export function tileValues<T extends Numeric>(
  values: T,
  shape: number[],
  reps: number[],
): T {
  let current: T = values;
  const currentShape = [...shape];
  for (let d = shape.length - 1; d >= 0; d--) {
    if (reps[d] === 1) continue;
    const outer = tf.util.sizeFromShape(currentShape.slice(0, d));
    const block = tf.util.sizeFromShape(currentShape.slice(d));
    const next = new (current.constructor as new (n: number) => T)(
      outer * reps[d] * block,
    );
    for (let o = 0; o < outer; o++) {
      const src = current.subarray(o * block, (o + 1) * block);
      for (let k = 0; k < reps[d]; k++) {
        next.set(src, (o * reps[d] + k) * block);
      }
    }
    current = next;
    currentShape[d] *= reps[d];
  }
  return current === values ? values.slice() as T : current;
}

function tile(args: BlasKernelArgs): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x } = inputs as { x: tf.TensorInfo };
  const { reps } = attrs as unknown as tf.TileAttrs;
  const values = backend.data.get(x.dataId).values;
  const numeric = values instanceof Float32Array ||
    values instanceof Int32Array || values instanceof Uint8Array;
  if (!numeric || x.dtype === "string" || reps.length !== x.shape.length) {
    return stockKernel(tf.Tile, args);
  }
  const out = tileValues(values as Numeric, x.shape, reps);
  return backend.makeTensorInfo(
    x.shape.map((s, d) => s * reps[d]),
    x.dtype,
    out,
  );
}

/** Registration record for the `Tile` kernel. */
export const tileKernelConfig: tf.KernelConfig = {
  kernelName: tf.Tile,
  backendName: BLAS,
  kernelFunc: tile as unknown as tf.KernelFunc,
};
