/**
 * `Conv2DBackpropFilter` for the tfjs wasm backend, which has none: the weight
 * gradient of a convolution, computed as one dilated convolution that XNNPACK
 * runs at full speed.
 *
 * For a forward convolution y = conv2d(x, W) with stride s and top/left
 * padding (pt, pl),
 *
 *   dW[ky, kx, ci, co] = sum over b, oy, ox of
 *     x[b, oy*s + ky - pt, ox*s + kx - pl, ci] * dy[b, oy, ox, co],
 *
 * which is itself a convolution: the input is x with batch and channels
 * swapped (`[Ci, H, W, B]`: ci is the batch, b the channel), the filter is
 * dy as `[Ho, Wo, B, Co]`, the dilation is s and the stride 1. Its output,
 * `[Ci, kh, kw, Co]`, is transposed to the filter layout `[kh, kw, Ci, Co]`.
 * The arithmetic is exactly the gradient's, with no im2col buffer.
 *
 * With few input channels (e.g. the critic's first layer, 1 channel) that
 * convolution has too few output pixels to be efficient; there the transposed
 * im2col matrix `Pᵀ` (`[kh*kw*Ci, B*Ho*Wo]`, small) is built directly and
 * dW = Pᵀ · dy is one matrix product.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { batchMatMul } from "./wasm_batch_matmul.ts";
import {
  type KernelArgs,
  release,
  reshaped,
  runKernel,
  sliced,
  transposed,
  WASM,
} from "./wasm_kernel_utils.ts";

/** Below this many input channels, im2col and one product beat the convolution. */
export const MIN_CHANNELS_FOR_CONV = 16;

function byIm2col(
  backend: BackendWasm,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  info: tf.backend_util.Conv2DInfo,
): tf.TensorInfo {
  const { batchSize: b, inHeight: h, inWidth: w, inChannels: ci } = info;
  const { outHeight: oh, outWidth: ow, outChannels: co } = info;
  const { filterHeight: kh, filterWidth: kw } = info;
  const [sh, sw] = [info.strideHeight, info.strideWidth];
  const [pt, pl] = [info.padInfo.top, info.padInfo.left];
  const n = b * oh * ow, taps = kh * kw * ci;
  // Pᵀ[(ky, kx, c), (b, y, x)] = x[b, y*sh + ky - pt, x*sw + kx - pl, c]
  const pT = backend.makeOutput([taps, n], "float32");
  const p = backend.typedArrayFromHeap(pT) as Float32Array;
  const src = backend.typedArrayFromHeap(x) as Float32Array;
  for (let ky = 0; ky < kh; ky++) {
    for (let kx = 0; kx < kw; kx++) {
      for (let c = 0; c < ci; c++) {
        let j = ((ky * kw + kx) * ci + c) * n;
        for (let bi = 0; bi < b; bi++) {
          for (let y = 0; y < oh; y++) {
            const iy = y * sh + ky - pt;
            const rowOk = iy >= 0 && iy < h;
            const row = (bi * h + iy) * w;
            for (let xo = 0; xo < ow; xo++, j++) {
              const ix = xo * sw + kx - pl;
              p[j] = rowOk && ix >= 0 && ix < w ? src[(row + ix) * ci + c] : 0;
            }
          }
        }
      }
    }
  }
  const dw = batchMatMul({
    inputs: { a: pT, b: reshaped(dy, [n, co]) },
    backend,
    attrs: { transposeA: false, transposeB: false },
  }); // [kh*kw*Ci, Co]
  release(backend, pT);
  return reshaped(dw, [kh, kw, ci, co]);
}

/**
 * The kernel function: inputs `{x, dy}`, attributes as tfjs's
 * `Conv2DBackpropFilter` (`strides`, `pad`, `dataFormat`, `dimRoundingMode`,
 * `filterShape`); returns dW `[kh, kw, Ci, Co]`.
 *
 * @example
 * ```ts ignore
 * tf.registerKernel(conv2dBackpropFilterConfig);
 * ```
 */
export function conv2dBackpropFilter(args: KernelArgs): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
    attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(dataFormat),
  );
  if (info.dataFormat !== "channelsLast") {
    throw new Error(
      `Expected dataFormat NHWC for Conv2DBackpropFilter on wasm, got ${dataFormat}`,
    );
  }
  if (info.inChannels < MIN_CHANNELS_FOR_CONV) {
    return byIm2col(backend, x, dy, info);
  }
  const { filterHeight: kh, filterWidth: kw } = info;
  const { strideHeight: sh, strideWidth: sw, padInfo } = info;
  const [ci, h, w] = [info.inChannels, info.inHeight, info.inWidth];
  // Rows the dilated convolution reads: kh + (Ho - 1) * sh, starting at -pt.
  const bottom = kh + (info.outHeight - 1) * sh - h - padInfo.top;
  const right = kw + (info.outWidth - 1) * sw - w - padInfo.left;

  let xT = transposed(backend, x, [3, 1, 2, 0]); // [Ci, H, W, B]
  if (bottom < 0 || right < 0) {
    // The forward convolution never read the last rows/columns: drop them.
    const cropped = sliced(backend, xT, [0, 0, 0, 0], [
      ci,
      h + Math.min(bottom, 0),
      w + Math.min(right, 0),
      info.batchSize,
    ]);
    release(backend, xT);
    xT = cropped;
  }
  const dyT = transposed(backend, dy, [1, 2, 0, 3]); // [Ho, Wo, B, Co]
  const dwT = runKernel(backend, "Conv2D", { x: xT, filter: dyT }, {
    strides: [1, 1],
    pad: [[0, 0], [padInfo.top, Math.max(bottom, 0)], [
      padInfo.left,
      Math.max(right, 0),
    ], [0, 0]],
    dataFormat: "NHWC",
    dilations: [sh, sw],
  }); // [Ci, kh, kw, Co]
  const dw = transposed(backend, dwT, [1, 2, 0, 3]); // [kh, kw, Ci, Co]
  release(backend, xT, dyT, dwT);
  return dw;
}

/** Registration record for {@link conv2dBackpropFilter}. */
export const conv2dBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: WASM,
  kernelFunc: conv2dBackpropFilter as unknown as tf.KernelFunc,
};
