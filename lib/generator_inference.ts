/**
 * A faster inference path for the `dcgan28` generator, with the same results
 * as `model.predict` (to float rounding): batch norm is folded into the
 * preceding weights, and then either
 *
 * - `form: "subpixel"` (the default): each stride-2 transposed convolution is
 *   rewritten as one 3x3 convolution that computes the four output phases side
 *   by side, followed by `depthToSpace`. Stock TF.js kernels run plain
 *   convolutions and matrix products much faster than transposed
 *   convolutions, notably on the wasm backend; or
 * - `form: "transposed"`: the transposed convolutions stay, with the folded
 *   weights and a bias, which suits backends whose transposed convolution is
 *   already a matrix product (the blas backend): the sub-pixel form does 2.25x
 *   the arithmetic.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";

/** Options for {@link compileGenerator}. */
export interface CompileOptions {
  /** How the transposed convolutions run (see the module notes); default "subpixel". */
  form?: "subpixel" | "transposed";
}

/** A compiled generator: z `[B, latentDim]` → images `[B, S, S, 1]`. */
export interface CompiledGenerator {
  /** Runs the generator in inference mode; the caller owns (and disposes) the result. */
  predict(z: tf.Tensor2D): tf.Tensor4D;
  /** Frees the folded weights. */
  dispose(): void;
}

// For output phase p (even or odd rows), the kernel tap that reads padded
// input offset a (0..2) of a 3x3 window, or -1 where none does. From the
// transposed convolution out[2i + k - 1] += in[i] * w[k] (kernel 4, stride 2,
// "same" padding).
const TAP = [[3, 1, -1], [-1, 2, 0]];

/** Batch-norm scale and shift per channel. */
function bnAffine(
  layer: tfl.layers.Layer,
): { scale: Float32Array; shift: Float32Array } {
  const [gamma, beta, mean, variance] = layer.getWeights().map((w) =>
    w.dataSync() as Float32Array
  );
  const epsilon = (layer.getConfig().epsilon as number | undefined) ?? 1e-3;
  const scale = gamma.map((g, c) => g / Math.sqrt(variance[c] + epsilon));
  const shift = beta.map((b, c) => b - mean[c] * scale[c]);
  return { scale, shift };
}

/**
 * The transposed-convolution kernel `[4, 4, out, in]` as a 3x3 convolution
 * kernel `[3, 3, in, 4 * out]`, output channels ordered (row phase, column
 * phase, channel), each output channel scaled by `scale`.
 */
function subPixelKernel(
  kernel: Float32Array,
  cout: number,
  cin: number,
  scale: Float32Array,
): Float32Array {
  const out = new Float32Array(9 * cin * 4 * cout);
  for (let a = 0; a < 3; a++) {
    for (let b = 0; b < 3; b++) {
      for (let py = 0; py < 2; py++) {
        for (let px = 0; px < 2; px++) {
          const kh = TAP[py][a], kw = TAP[px][b];
          if (kh < 0 || kw < 0) continue;
          for (let o = 0; o < cout; o++) {
            for (let i = 0; i < cin; i++) {
              out[
                ((a * 3 + b) * cin + i) * 4 * cout + (py * 2 + px) * cout + o
              ] = kernel[((kh * 4 + kw) * cout + o) * cin + i] * scale[o];
            }
          }
        }
      }
    }
  }
  return out;
}

function isStride2Kernel4(layer: tfl.layers.Layer): boolean {
  const c = layer.getConfig();
  return layer.getClassName() === "Conv2DTranspose" &&
    JSON.stringify(c.kernelSize) === "[4,4]" &&
    JSON.stringify(c.strides) === "[2,2]" && c.padding === "same" &&
    (c.activation ?? "linear") === "linear" &&
    (c.dataFormat ?? "channelsLast") === "channelsLast";
}

/**
 * Compiles a `dcgan28` generator (dense → batch norm → ReLU → transposed conv
 * → batch norm → ReLU → transposed conv → tanh) into a faster equivalent;
 * `undefined` for any other architecture (use `model.predict` then).
 *
 * @example
 * ```ts ignore
 * import { compileGenerator } from "./generator_inference.ts";
 * const fast = compileGenerator(generator);
 * const images = fast ? fast.predict(z) : generator.predict(z);
 * ```
 */
export function compileGenerator(
  model: tfl.LayersModel,
  options: CompileOptions = {},
): CompiledGenerator | undefined {
  const form = options.form ?? "subpixel";
  const names = model.layers.map((l) => l.getClassName()).join(",");
  if (
    names !==
      "Dense,Reshape,BatchNormalization,ReLU,Conv2DTranspose,BatchNormalization,ReLU,Conv2DTranspose,Activation"
  ) return undefined;
  const [dense, reshape, bn1, , convT1, bn2, , convT2, act] = model.layers;
  const dc = dense.getConfig();
  if (
    (dc.activation ?? "linear") !== "linear" ||
    !isStride2Kernel4(convT1) || !isStride2Kernel4(convT2) ||
    act.getConfig().activation !== "tanh" ||
    bn1.getWeights().length !== 4 || bn2.getWeights().length !== 4
  ) return undefined;
  const [h, w, c0] = reshape.getConfig().targetShape as number[];
  const latentDim = dense.getWeights()[0].shape[0] as number;
  const c1 = convT1.getWeights()[0].shape[2] as number;
  const c2 = convT2.getWeights()[0].shape[2] as number;

  const kept = tf.tidy(() => {
    // Dense with batch norm 1 folded in: channel of output unit j is j % c0.
    const bn = bnAffine(bn1);
    const [k0, denseBias] = dense.getWeights();
    const scale0 = new Float32Array(h * w * c0).map((_, j) => bn.scale[j % c0]);
    const shift0 = new Float32Array(h * w * c0).map((_, j) => bn.shift[j % c0]);
    const w0 = tf.mul(k0, tf.tensor1d(scale0));
    const b0 = denseBias
      ? tf.add(tf.mul(denseBias, tf.tensor1d(scale0)), tf.tensor1d(shift0))
      : tf.tensor1d(shift0);

    // Transposed conv 1 with batch norm 2 folded in.
    const [k1t] = convT1.getWeights(); // [4, 4, c1, c0]
    const bn2f = bnAffine(bn2);
    const k1 = form === "subpixel"
      ? tf.tensor4d(
        subPixelKernel(k1t.dataSync() as Float32Array, c1, c0, bn2f.scale),
        [3, 3, c0, 4 * c1],
      )
      : tf.mul(k1t, tf.reshape(tf.tensor1d(bn2f.scale), [1, 1, c1, 1]));
    const convBias1 = convT1.getWeights()[1]?.dataSync() as
      | Float32Array
      | undefined;
    const phases = form === "subpixel" ? 4 : 1;
    const b1 = tf.tensor1d(
      new Float32Array(phases * c1).map((_, j) =>
        (convBias1 ? convBias1[j % c1] * bn2f.scale[j % c1] : 0) +
        bn2f.shift[j % c1]
      ),
    );

    // Transposed conv 2 (with bias), then tanh.
    const [k2t, bias2] = convT2.getWeights(); // [4, 4, c2, c1]
    const k2 = form === "subpixel"
      ? tf.tensor4d(
        subPixelKernel(
          k2t.dataSync() as Float32Array,
          c2,
          c1,
          new Float32Array(c2).fill(1),
        ),
        [3, 3, c1, 4 * c2],
      )
      : tf.clone(k2t);
    const bias2Data = bias2?.dataSync() as Float32Array | undefined;
    const b2 = tf.tensor1d(
      new Float32Array(phases * c2).map((_, j) =>
        bias2Data ? bias2Data[j % c2] : 0
      ),
    );

    return [w0, b0, k1, b1, k2, b2];
  });
  const pad = [[0, 0], [1, 1], [1, 1], [0, 0]] as [number, number][];
  return {
    predict(z: tf.Tensor2D): tf.Tensor4D {
      if (z.shape[1] !== latentDim) {
        throw new RangeError(
          `Expected z of shape [B, ${latentDim}], got [${z.shape}]`,
        );
      }
      return tf.tidy(() => {
        const batch = z.shape[0];
        let x: tf.Tensor4D = tf.reshape(
          tf.fused.matMul({
            a: z,
            b: kept[0] as tf.Tensor2D,
            bias: kept[1],
            activation: "relu",
          }),
          [batch, h, w, c0],
        ); // [B, 7, 7, c0]
        if (form === "transposed") {
          const [k1, b1, k2, b2] = kept.slice(2) as [
            tf.Tensor4D,
            tf.Tensor1D,
            tf.Tensor4D,
            tf.Tensor1D,
          ];
          x = tf.relu(tf.add(
            tf.conv2dTranspose(x, k1, [batch, 2 * h, 2 * w, c1], 2, "same"),
            b1,
          )); // [B, 14, 14, c1]
          return tf.tanh(tf.add(
            tf.conv2dTranspose(x, k2, [batch, 4 * h, 4 * w, c2], 2, "same"),
            b2,
          )); // [B, 28, 28, c2]
        }
        x = tf.depthToSpace(
          tf.fused.conv2d({
            x: tf.pad(x, pad),
            filter: kept[2] as tf.Tensor4D,
            strides: 1,
            pad: "valid",
            bias: kept[3],
            activation: "relu",
          }),
          2,
        ); // [B, 14, 14, c1]
        x = tf.depthToSpace(
          tf.fused.conv2d({
            x: tf.pad(x, pad),
            filter: kept[4] as tf.Tensor4D,
            strides: 1,
            pad: "valid",
            bias: kept[5],
          }),
          2,
        ); // [B, 28, 28, c2]
        return tf.tanh(x);
      });
    },
    dispose() {
      tf.dispose(kept);
    },
  };
}
