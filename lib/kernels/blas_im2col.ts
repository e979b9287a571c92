/**
 * im2col and col2im for NHWC convolutions, and the reusable scratch buffer
 * they fill.
 *
 * The patch matrix of a convolution has one row per output pixel `(b, oy,
 * ox)` and one column per filter tap `(ky, kx, c)`, the layout of a
 * `[kh, kw, Ci, Co]` filter seen as a `[kh*kw*Ci, Co]` matrix, so that
 * `patches · filter` is the NHWC output. In NHWC the taps `kx..kx+n` of one
 * filter row read `n*Ci` consecutive input values, so each filter row is one
 * contiguous copy (or add, for col2im) plus zeros for the padding.
 *
 * @module
 */

/** Geometry of a 2-D convolution, as tfjs's `Conv2DInfo` gives it. */
export interface ConvGeometry {
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  /** Rows of padding above the input. */
  padTop: number;
  /** Columns of padding left of the input. */
  padLeft: number;
}

// From this many values on, a block copy beats an element loop.
const COPY_AS_BLOCK = 32;

let scratch = new Float32Array(0);

/**
 * A scratch Float32Array of `length` elements, reused between calls (its
 * contents are arbitrary). Valid until the next call.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scratchBuffer } from "./blas_im2col.ts";
 * assert.ok(scratchBuffer(10).length === 10);
 * ```
 */
export function scratchBuffer(length: number): Float32Array {
  if (scratch.length < length) scratch = new Float32Array(length);
  return scratch.subarray(0, length);
}

/** Frees the scratch buffer (it grows back on the next use). */
export function releaseScratch(): void {
  scratch = new Float32Array(0);
}

/**
 * Fills `out` with the patch matrix of images `b0 .. b0+count` of the NHWC
 * batch `x`: `[count*Ho*Wo, kh*kw*Ci]`, zeros where a tap falls in the
 * padding.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { im2col } from "./blas_im2col.ts";
 * // One 2x2 image, one channel, 2x2 filter, stride 1, no padding: one patch.
 * const g = { inHeight: 2, inWidth: 2, inChannels: 1, outHeight: 1,
 *   outWidth: 1, filterHeight: 2, filterWidth: 2, strideHeight: 1,
 *   strideWidth: 1, padTop: 0, padLeft: 0 };
 * const out = new Float32Array(4);
 * im2col(new Float32Array([1, 2, 3, 4]), g, 0, 1, out);
 * assert.ok(out.join() === "1,2,3,4");
 * ```
 */
export function im2col(
  x: Float32Array,
  g: ConvGeometry,
  b0: number,
  count: number,
  out: Float32Array,
): void {
  const { inHeight: h, inWidth: w, inChannels: c } = g;
  const { outHeight: oh, outWidth: ow, filterHeight: kh, filterWidth: kw } = g;
  const { strideHeight: sh, strideWidth: sw, padTop: pt, padLeft: pl } = g;
  const rowTaps = kw * c;
  let o = 0;
  for (let b = b0; b < b0 + count; b++) {
    const image = b * h * w * c;
    for (let oy = 0; oy < oh; oy++) {
      const iy0 = oy * sh - pt;
      for (let ox = 0; ox < ow; ox++) {
        const ix0 = ox * sw - pl;
        // Taps kx in [kx0, kx1) fall inside the image.
        const kx0 = Math.max(0, -ix0), kx1 = Math.min(kw, w - ix0);
        for (let ky = 0; ky < kh; ky++) {
          const iy = iy0 + ky;
          if (iy < 0 || iy >= h || kx1 <= kx0) {
            out.fill(0, o, o + rowTaps);
            o += rowTaps;
            continue;
          }
          const head = kx0 * c, body = (kx1 - kx0) * c;
          if (head > 0) out.fill(0, o, o + head);
          let src = image + (iy * w + ix0 + kx0) * c;
          const end = o + head + body;
          if (body >= COPY_AS_BLOCK) {
            out.set(x.subarray(src, src + body), o + head);
          } else {
            for (let j = o + head; j < end; j++) out[j] = x[src++];
          }
          if (end < o + rowTaps) out.fill(0, end, o + rowTaps);
          o += rowTaps;
        }
      }
    }
  }
}

/**
 * The adjoint of {@link im2col}: adds each patch-matrix entry of images `b0
 * .. b0+count` back to the NHWC pixel it was read from (padding taps are
 * dropped). `dx` must hold the whole batch; it is accumulated into.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { col2im } from "./blas_im2col.ts";
 * // 1x3 image, 1x2 filter, stride 1: pixel 1 is read by both patches.
 * const g = { inHeight: 1, inWidth: 3, inChannels: 1, outHeight: 1,
 *   outWidth: 2, filterHeight: 1, filterWidth: 2, strideHeight: 1,
 *   strideWidth: 1, padTop: 0, padLeft: 0 };
 * const dx = new Float32Array(3);
 * col2im(new Float32Array([1, 1, 1, 1]), g, 0, 1, dx);
 * assert.ok(dx.join() === "1,2,1");
 * ```
 */
export function col2im(
  cols: Float32Array,
  g: ConvGeometry,
  b0: number,
  count: number,
  dx: Float32Array,
): void {
  const { inHeight: h, inWidth: w, inChannels: c } = g;
  const { outHeight: oh, outWidth: ow, filterHeight: kh, filterWidth: kw } = g;
  const { strideHeight: sh, strideWidth: sw, padTop: pt, padLeft: pl } = g;
  const rowTaps = kw * c;
  let o = 0;
  for (let b = b0; b < b0 + count; b++) {
    const image = b * h * w * c;
    for (let oy = 0; oy < oh; oy++) {
      const iy0 = oy * sh - pt;
      for (let ox = 0; ox < ow; ox++) {
        const ix0 = ox * sw - pl;
        const kx0 = Math.max(0, -ix0), kx1 = Math.min(kw, w - ix0);
        for (let ky = 0; ky < kh; ky++, o += rowTaps) {
          const iy = iy0 + ky;
          if (iy < 0 || iy >= h || kx1 <= kx0) continue;
          let dst = image + (iy * w + ix0 + kx0) * c;
          const start = o + kx0 * c, end = o + kx1 * c;
          for (let j = start; j < end; j++) dx[dst++] += cols[j];
        }
      }
    }
  }
}
