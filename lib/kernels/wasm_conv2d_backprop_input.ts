/**
 * `Conv2DBackpropInput` (the input gradient of a convolution, and the forward
 * pass of a transposed convolution) for the tfjs wasm backend, on XNNPACK's
 * fast paths instead of the backend's scalar loop. Two layouts:
 *
 * - Many input channels (Ci >= 16): sub-pixel decomposition. With stride s,
 *   the rows iy = n*s + r of one phase r in [0, s) are a stride-1 convolution
 *   of dy with the taps of the filter that land on that phase (flipped, in and
 *   out channels swapped):
 *
 *     dx[n*s + r] = sum over t < m_r of dy[n + o_r + t] * W[p_r + (m_r-1-t)*s]
 *
 *   where p_r = (r + pt) mod s, m_r = ceil((k - p_r) / s) and
 *   o_r = floor((r + pt) / s) - (m_r - 1); likewise along columns. The s*s
 *   phase outputs are interleaved into dx. Exactly the gradient's arithmetic.
 * - Few input channels (e.g. the generator's last layer, 1 channel): one
 *   matrix product `cols = dy · Wᵀ` (`[B*Ho*Wo, kh*kw*Ci]`), then each column
 *   is added into the dx pixel its tap lands on (col2im).
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
  WASM,
} from "./wasm_kernel_utils.ts";

/** From this many input channels on, phase convolutions beat col2im. */
export const MIN_CHANNELS_FOR_PHASES = 16;

// One output phase along one axis (see the module doc for p, m, o).
interface Phase {
  p: number;
  m: number;
  o: number;
}

// The phases along one axis of a convolution with kernel k, stride s and
// leading pad `pad`.
function phases(k: number, s: number, pad: number): Phase[] {
  return Array.from({ length: s }, (_, r) => {
    const p = (r + pad) % s;
    const m = p < k ? Math.ceil((k - p) / s) : 0;
    return { p, m, o: Math.floor((r + pad) / s) - (m - 1) };
  });
}

// Stride-1 convolution of dy [B, D, Dw, Co] with `filter` whose output row n
// reads dy rows n + first .. n + first + kernel - 1 (likewise for columns),
// for n in [0, rows) and [0, cols). Rows outside dy read zeros.
function shiftedConv(
  backend: BackendWasm,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  rows: { first: number; n: number },
  cols: { first: number; n: number },
): tf.TensorInfo {
  const [batch, d, dw, co] = dy.shape;
  const [fh, fw] = filter.shape;
  let top = -rows.first, left = -cols.first;
  let bottom = rows.n - d - top + fh - 1;
  let right = cols.n - dw - left + fw - 1;
  // Negative padding means that dy rows are never read: crop them.
  const cropTop = Math.max(-top, 0), cropBottom = Math.max(-bottom, 0);
  const cropLeft = Math.max(-left, 0), cropRight = Math.max(-right, 0);
  let input = dy;
  if (cropTop + cropBottom + cropLeft + cropRight > 0) {
    input = sliced(backend, dy, [0, cropTop, cropLeft, 0], [
      batch,
      d - cropTop - cropBottom,
      dw - cropLeft - cropRight,
      co,
    ]);
    top += cropTop;
    bottom += cropBottom;
    left += cropLeft;
    right += cropRight;
  }
  const out = runKernel(backend, "Conv2D", { x: input, filter }, {
    strides: [1, 1],
    pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
    dataFormat: "NHWC",
    dilations: [1, 1],
  });
  if (input !== dy) release(backend, input);
  return out;
}

// The filter of one phase, [my, mx, Co, Ci]: tap (t, u) is W[ky, kx] with
// ky = py.p + (py.m - 1 - t) * s (flipped), in and out channels swapped.
function phaseFilter(
  backend: BackendWasm,
  w: Float32Array,
  wShape: number[],
  s: [number, number],
  py: Phase,
  px: Phase,
): tf.TensorInfo {
  const [, kw, ci, co] = wShape;
  const out = new Float32Array(py.m * px.m * co * ci);
  for (let t = 0; t < py.m; t++) {
    const ky = py.p + (py.m - 1 - t) * s[0];
    for (let u = 0; u < px.m; u++) {
      const kx = px.p + (px.m - 1 - u) * s[1];
      const src = (ky * kw + kx) * ci * co;
      const dst = (t * px.m + u) * co * ci;
      for (let i = 0; i < ci; i++) {
        for (let o = 0; o < co; o++) {
          out[dst + o * ci + i] = w[src + i * co + o];
        }
      }
    }
  }
  return backend.makeOutput([py.m, px.m, co, ci], "float32", undefined, out);
}

function byPhases(
  backend: BackendWasm,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  info: tf.backend_util.Conv2DInfo,
): tf.TensorInfo {
  const { batchSize: b, inHeight: h, inWidth: w, inChannels: ci } = info;
  const s: [number, number] = [info.strideHeight, info.strideWidth];
  const rows = phases(info.filterHeight, s[0], info.padInfo.top);
  const cols = phases(info.filterWidth, s[1], info.padInfo.left);
  const n = [Math.ceil(h / s[0]), Math.ceil(w / s[1])];
  const weights = backend.readSync(filter.dataId) as Float32Array;
  // parts[ry * sw + rx]: [B, n0, n1, Ci], or null where no tap lands.
  const parts: (tf.TensorInfo | null)[] = [];
  for (const py of rows) {
    for (const px of cols) {
      if (py.m === 0 || px.m === 0) {
        parts.push(null);
        continue;
      }
      const f = phaseFilter(backend, weights, filter.shape, s, py, px);
      parts.push(shiftedConv(backend, dy, f, { first: py.o, n: n[0] }, {
        first: px.o,
        n: n[1],
      }));
      release(backend, f);
    }
  }
  // Interleave: dx[b, y*sh + ry, x*sw + rx, :] = parts[ry][rx][b, y, x, :].
  const dx = backend.makeOutput([b, h, w, ci], "float32");
  const out = backend.typedArrayFromHeap(dx) as Float32Array;
  if (parts.includes(null)) out.fill(0);
  for (let ry = 0; ry < s[0]; ry++) {
    for (let rx = 0; rx < s[1]; rx++) {
      const part = parts[ry * s[1] + rx];
      if (part === null) continue;
      const src = backend.typedArrayFromHeap(part) as Float32Array;
      let i = 0;
      for (let bi = 0; bi < b; bi++) {
        for (let y = 0; y < n[0]; y++) {
          const iy = y * s[0] + ry;
          for (let x = 0; x < n[1]; x++, i += ci) {
            const ix = x * s[1] + rx;
            if (iy >= h || ix >= w) continue;
            out.set(src.subarray(i, i + ci), ((bi * h + iy) * w + ix) * ci);
          }
        }
      }
    }
  }
  release(backend, ...parts.filter((p) => p !== null));
  return dx;
}

function byCol2im(
  backend: BackendWasm,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  info: tf.backend_util.Conv2DInfo,
): tf.TensorInfo {
  const { batchSize: b, inHeight: h, inWidth: w, inChannels: ci } = info;
  const { outHeight: oh, outWidth: ow, outChannels: co } = info;
  const { filterHeight: kh, filterWidth: kw } = info;
  const [sh, sw] = [info.strideHeight, info.strideWidth];
  const [pt, pl] = [info.padInfo.top, info.padInfo.left];
  const taps = kh * kw * ci;
  // [B*Ho*Wo, kh*kw*Ci]
  const cols = batchMatMul({
    inputs: {
      a: reshaped(dy, [b * oh * ow, co]),
      b: reshaped(filter, [taps, co]),
    },
    backend,
    attrs: { transposeA: false, transposeB: true },
  });
  const dx = backend.makeOutput([b, h, w, ci], "float32");
  const out = backend.typedArrayFromHeap(dx) as Float32Array;
  const src = backend.typedArrayFromHeap(cols) as Float32Array;
  out.fill(0);
  let i = 0;
  for (let bi = 0; bi < b; bi++) {
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        for (let ky = 0; ky < kh; ky++) {
          const iy = y * sh + ky - pt;
          if (iy < 0 || iy >= h) {
            i += kw * ci;
            continue;
          }
          for (let kx = 0; kx < kw; kx++) {
            const ix = x * sw + kx - pl;
            if (ix < 0 || ix >= w) {
              i += ci;
              continue;
            }
            const d = ((bi * h + iy) * w + ix) * ci;
            for (let c = 0; c < ci; c++) out[d + c] += src[i++];
          }
        }
      }
    }
  }
  release(backend, cols);
  return dx;
}

/**
 * The kernel function: inputs `{dy, filter}`, attributes as tfjs's
 * `Conv2DBackpropInput` (`inputShape`, `strides`, `pad`, `dataFormat`,
 * `dimRoundingMode`); returns dx with shape `inputShape`.
 *
 * @example
 * ```ts ignore
 * tf.registerKernel(conv2dBackpropInputConfig);
 * ```
 */
export function conv2dBackpropInput(args: KernelArgs): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  const { inputShape, strides, pad, dataFormat, dimRoundingMode } =
    attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(dataFormat),
  );
  if (info.dataFormat !== "channelsLast") {
    throw new Error(
      `Expected dataFormat NHWC for Conv2DBackpropInput on wasm, got ${dataFormat}`,
    );
  }
  return info.inChannels >= MIN_CHANNELS_FOR_PHASES
    ? byPhases(backend, dy, filter, info)
    : byCol2im(backend, dy, filter, info);
}

/** Registration record for {@link conv2dBackpropInput}. */
export const conv2dBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropInput,
  backendName: WASM,
  kernelFunc: conv2dBackpropInput as unknown as tf.KernelFunc,
};
