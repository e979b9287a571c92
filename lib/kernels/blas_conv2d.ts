/**
 * NHWC convolution kernels for the "blas" backend, each an OpenBLAS sgemm
 * around {@link im2col} / {@link col2im}, with the filter `[kh, kw, Ci, Co]`
 * used in place as a `[kh*kw*Ci, Co]` matrix `W` and the patch matrix `P`
 * (`[B*Ho*Wo, kh*kw*Ci]`, built a few images at a time in a reused buffer):
 *
 * - `Conv2D` / `FusedConv2D`: y = P · W (then bias and activation);
 * - `Conv2DBackpropInput` (the input gradient, and the transposed
 *   convolution): P = dy · Wᵀ, then dx = col2im(P);
 * - `Conv2DBackpropFilter` (the weight gradient): dW = Pᵀ · dy.
 *
 * When the forward pass builds the whole batch's P at once, it keeps P in a
 * small cache keyed by the input tensor, and the weight gradient of the same
 * input (which tfjs computes from the same `x`) reuses it instead of running
 * im2col again. An entry is only used while its input tensor is alive and
 * still holds the same array; tfjs never writes into a tensor's values.
 *
 * 1x1 convolutions with stride 1 and no padding skip im2col. Dilated or NCHW
 * convolutions, and non-float32 tensors, go to the stock cpu kernels.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { sgemm } from "./blas_ffi.ts";
import {
  col2im,
  type ConvGeometry,
  im2col,
  scratchBuffer,
} from "./blas_im2col.ts";
import {
  type Activation,
  allFloat32,
  biasActivation,
  BLAS,
  type BlasKernelArgs,
  float32Values,
  stockKernel,
} from "./blas_kernel_utils.ts";

/** Most patch-matrix elements built at once (32 MiB); at least one image. */
export const MAX_PATCH_ELEMENTS = 1 << 23;

type Conv2DInfo = tf.backend_util.Conv2DInfo;
type Pad = tf.Conv2DAttrs["pad"];

function convInfo(
  xShape: number[],
  filterShape: number[],
  attrs: {
    strides: [number, number] | number;
    pad: Pad;
    dataFormat: "NHWC" | "NCHW";
    dilations?: [number, number] | number;
    dimRoundingMode?: "floor" | "round" | "ceil";
  },
): Conv2DInfo | undefined {
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(attrs.dataFormat ?? "NHWC"),
  );
  const handled = info.dataFormat === "channelsLast" &&
    info.dilationHeight === 1 && info.dilationWidth === 1;
  return handled ? info : undefined;
}

function geometry(info: Conv2DInfo): ConvGeometry {
  return {
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

// A 1x1, stride-1, unpadded convolution: the input already is P.
function isPointwise(info: Conv2DInfo): boolean {
  return info.filterHeight === 1 && info.filterWidth === 1 &&
    info.strideHeight === 1 && info.strideWidth === 1 &&
    info.padInfo.top === 0 && info.padInfo.left === 0 &&
    info.outHeight === info.inHeight && info.outWidth === info.inWidth;
}

// Images per im2col chunk.
function chunkImages(info: Conv2DInfo): number {
  const perImage = info.outHeight * info.outWidth * info.filterHeight *
    info.filterWidth * info.inChannels;
  return Math.max(1, Math.floor(MAX_PATCH_ELEMENTS / Math.max(1, perImage)));
}

/** Most patch matrices kept for the weight gradient. */
export const PATCH_CACHE_ENTRIES = 4;

interface PatchEntry {
  dataId: object;
  values: Float32Array;
  key: string;
  patches: Float32Array;
}

// Newest last.
let patchCache: PatchEntry[] = [];

function patchKey(info: Conv2DInfo): string {
  return [
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outHeight,
    info.outWidth,
    info.filterHeight,
    info.filterWidth,
    info.strideHeight,
    info.strideWidth,
    info.padInfo.top,
    info.padInfo.left,
  ].join();
}

function cachedPatches(
  backend: MathBackendCPU,
  x: tf.TensorInfo,
  info: Conv2DInfo,
): Float32Array | undefined {
  const key = patchKey(info);
  const entry = patchCache.find((e) => e.dataId === x.dataId && e.key === key);
  if (!entry) return undefined;
  const alive = backend.data.has(x.dataId) &&
    backend.data.get(x.dataId).values === entry.values;
  return alive ? entry.patches : undefined;
}

// A buffer of `length` for x's patch matrix, recycled from an entry whose
// input is gone (or the oldest), and recorded as x's.
function patchBuffer(
  backend: MathBackendCPU,
  x: tf.TensorInfo,
  info: Conv2DInfo,
  length: number,
): Float32Array {
  const stale = patchCache.findIndex((e) =>
    !backend.data.has(e.dataId) || e.dataId === x.dataId
  );
  const evict = stale >= 0
    ? stale
    : patchCache.length >= PATCH_CACHE_ENTRIES
    ? 0
    : -1;
  let patches: Float32Array | undefined;
  if (evict >= 0) {
    const [old] = patchCache.splice(evict, 1);
    if (old.patches.length === length) patches = old.patches;
  }
  patches ??= new Float32Array(length);
  patchCache.push({
    dataId: x.dataId,
    values: float32Values(backend, x),
    key: patchKey(info),
    patches,
  });
  return patches;
}

/**
 * Empties the cache of forward patch matrices kept for the weight gradient.
 *
 * @example
 * ```ts ignore
 * import { clearPatchCache } from "./blas_conv2d.ts";
 * clearPatchCache();
 * ```
 */
export function clearPatchCache(): void {
  patchCache = [];
}

/** Patch matrices now cached, for tests. */
export function patchCacheSize(): number {
  return patchCache.length;
}

// y = P · W, `[B*Ho*Wo, Co]`.
function forward(
  backend: MathBackendCPU,
  xInfo: tf.TensorInfo,
  w: Float32Array,
  info: Conv2DInfo,
): Float32Array {
  const x = float32Values(backend, xInfo);
  const { batchSize, outHeight, outWidth, outChannels: co } = info;
  const taps = info.filterHeight * info.filterWidth * info.inChannels;
  const pixels = outHeight * outWidth;
  const y = new Float32Array(batchSize * pixels * co);
  if (isPointwise(info)) {
    sgemm(batchSize * pixels, co, taps, { data: x, ld: taps }, {
      data: w,
      ld: co,
    }, { data: y, ld: co });
    return y;
  }
  const g = geometry(info), step = chunkImages(info);
  if (step >= batchSize) {
    // The whole batch at once: keep P for the weight gradient.
    let p = cachedPatches(backend, xInfo, info);
    if (!p) {
      p = patchBuffer(backend, xInfo, info, batchSize * pixels * taps);
      im2col(x, g, 0, batchSize, p);
    }
    sgemm(batchSize * pixels, co, taps, { data: p, ld: taps }, {
      data: w,
      ld: co,
    }, { data: y, ld: co });
    return y;
  }
  for (let b0 = 0; b0 < batchSize; b0 += step) {
    const count = Math.min(step, batchSize - b0);
    const p = scratchBuffer(count * pixels * taps);
    im2col(x, g, b0, count, p);
    sgemm(count * pixels, co, taps, { data: p, ld: taps }, {
      data: w,
      ld: co,
    }, { data: y, offset: b0 * pixels * co, ld: co });
  }
  return y;
}

/**
 * The `Conv2D` kernel function.
 *
 * @example
 * ```ts ignore
 * tf.registerKernel(blasConv2DConfig);
 * ```
 */
export function blasConv2D(args: BlasKernelArgs): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, filter } = inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  const info = allFloat32(backend, x, filter)
    ? convInfo(x.shape, filter.shape, attrs as unknown as tf.Conv2DAttrs)
    : undefined;
  if (!info) return stockKernel(tf.Conv2D, args);
  const y = forward(backend, x, float32Values(backend, filter), info);
  return backend.makeTensorInfo(info.outShape, "float32", y);
}

/**
 * The `FusedConv2D` kernel function: convolution, bias, activation.
 *
 * @example
 * ```ts ignore
 * tf.registerKernel(blasFusedConv2DConfig);
 * ```
 */
export function blasFusedConv2D(args: BlasKernelArgs): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, filter, bias, preluActivationWeights } = inputs as {
    x: tf.TensorInfo;
    filter: tf.TensorInfo;
    bias?: tf.TensorInfo;
    preluActivationWeights?: tf.TensorInfo;
  };
  const fusedAttrs = attrs as unknown as tf.FusedConv2DAttrs;
  const info = allFloat32(backend, x, filter)
    ? convInfo(x.shape, filter.shape, fusedAttrs)
    : undefined;
  if (!info) return stockKernel(tf.FusedConv2D, args);
  const y = forward(backend, x, float32Values(backend, filter), info);
  return biasActivation(backend, y, info.outShape, {
    bias,
    activation: fusedAttrs.activation as Activation,
    leakyreluAlpha: fusedAttrs.leakyreluAlpha,
    preluActivationWeights,
  });
}

/**
 * The `Conv2DBackpropInput` kernel function: dx from dy and the filter, which
 * is also the transposed convolution of dy.
 *
 * @example
 * ```ts ignore
 * tf.registerKernel(blasConv2DBackpropInputConfig);
 * ```
 */
export function blasConv2DBackpropInput(args: BlasKernelArgs): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const convAttrs = attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const info = allFloat32(backend, dy, filter)
    ? convInfo(convAttrs.inputShape, filter.shape, convAttrs)
    : undefined;
  if (!info) return stockKernel(tf.Conv2DBackpropInput, args);
  const { batchSize, outHeight, outWidth, outChannels: co } = info;
  const taps = info.filterHeight * info.filterWidth * info.inChannels;
  const pixels = outHeight * outWidth;
  const dyv = float32Values(backend, dy), w = float32Values(backend, filter);
  const dx = new Float32Array(tf.util.sizeFromShape(info.inShape));
  if (isPointwise(info)) {
    sgemm(
      batchSize * pixels,
      taps,
      co,
      { data: dyv, ld: co },
      {
        data: w,
        ld: co,
      },
      { data: dx, ld: taps },
      { transB: true },
    );
  } else {
    const g = geometry(info), step = chunkImages(info);
    for (let b0 = 0; b0 < batchSize; b0 += step) {
      const count = Math.min(step, batchSize - b0);
      const p = scratchBuffer(count * pixels * taps);
      // P = dy · Wᵀ, `[count*Ho*Wo, kh*kw*Ci]`
      sgemm(
        count * pixels,
        taps,
        co,
        { data: dyv, offset: b0 * pixels * co, ld: co },
        { data: w, ld: co },
        { data: p, ld: taps },
        { transB: true },
      );
      col2im(p, g, b0, count, dx);
    }
  }
  return backend.makeTensorInfo(info.inShape, "float32", dx);
}

/**
 * The `Conv2DBackpropFilter` kernel function: dW from x and dy.
 *
 * @example
 * ```ts ignore
 * tf.registerKernel(blasConv2DBackpropFilterConfig);
 * ```
 */
export function blasConv2DBackpropFilter(
  args: BlasKernelArgs,
): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const convAttrs = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const info = allFloat32(backend, x, dy)
    ? convInfo(x.shape, convAttrs.filterShape, convAttrs)
    : undefined;
  if (!info) return stockKernel(tf.Conv2DBackpropFilter, args);
  const { batchSize, outHeight, outWidth, outChannels: co } = info;
  const taps = info.filterHeight * info.filterWidth * info.inChannels;
  const pixels = outHeight * outWidth;
  const xv = float32Values(backend, x), dyv = float32Values(backend, dy);
  const dw = new Float32Array(taps * co);
  const cached = cachedPatches(backend, x, info);
  if (isPointwise(info)) {
    sgemm(
      taps,
      co,
      batchSize * pixels,
      { data: xv, ld: taps },
      {
        data: dyv,
        ld: co,
      },
      { data: dw, ld: co },
      { transA: true },
    );
  } else if (cached) {
    // dW = Pᵀ · dy with the forward pass's P
    sgemm(
      taps,
      co,
      batchSize * pixels,
      { data: cached, ld: taps },
      { data: dyv, ld: co },
      { data: dw, ld: co },
      { transA: true },
    );
  } else {
    const g = geometry(info), step = chunkImages(info);
    for (let b0 = 0; b0 < batchSize; b0 += step) {
      const count = Math.min(step, batchSize - b0);
      const p = scratchBuffer(count * pixels * taps);
      im2col(xv, g, b0, count, p);
      // dW += Pᵀ · dy
      sgemm(
        taps,
        co,
        count * pixels,
        { data: p, ld: taps },
        { data: dyv, offset: b0 * pixels * co, ld: co },
        { data: dw, ld: co },
        { transA: true, beta: b0 === 0 ? 0 : 1 },
      );
    }
  }
  return backend.makeTensorInfo(info.filterShape, "float32", dw);
}

/** Registration record for {@link blasConv2D}. */
export const blasConv2DConfig: tf.KernelConfig = {
  kernelName: tf.Conv2D,
  backendName: BLAS,
  kernelFunc: blasConv2D as unknown as tf.KernelFunc,
};

/** Registration record for {@link blasFusedConv2D}. */
export const blasFusedConv2DConfig: tf.KernelConfig = {
  kernelName: tf.FusedConv2D,
  backendName: BLAS,
  kernelFunc: blasFusedConv2D as unknown as tf.KernelFunc,
};

/** Registration record for {@link blasConv2DBackpropInput}. */
export const blasConv2DBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropInput,
  backendName: BLAS,
  kernelFunc: blasConv2DBackpropInput as unknown as tf.KernelFunc,
};

/** Registration record for {@link blasConv2DBackpropFilter}. */
export const blasConv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: BLAS,
  kernelFunc: blasConv2DBackpropFilter as unknown as tf.KernelFunc,
};
