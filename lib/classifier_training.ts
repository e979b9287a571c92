/**
 * Training the domain classifier quickly on a CPU.
 *
 * The classifier's layers are trained in place, but through a hand-written
 * forward pass whose convolution and dense gradients are re-expressed as plain
 * forward convolutions and matrix products of untransposed operands: the stock
 * TF.js gradients of those ops have no kernel on the wasm backend
 * (`Conv2DBackpropFilter`) or fall to slow paths there (transposed convolution,
 * matrix products with a transposed operand). The maths is the same on every
 * backend.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import { NUM_CLASSES } from "./classifier.ts";
import { Rng } from "./random.ts";

/** Options of {@link trainClassifier}. */
export interface TrainClassifierOptions {
  /** Passes over the training set. */
  epochs: number;
  /** Images per step. */
  batchSize: number;
  /** Adam learning rate. */
  learningRate: number;
  /** Seed of the shuffling order. */
  seed: number;
  /** Called every `logEvery` steps with the step's cross-entropy. */
  onLog?: (info: { epoch: number; step: number; loss: number }) => void;
  /** Steps between calls to `onLog` (default 50). */
  logEvery?: number;
  /** Stop after this many steps in all (for measuring speed). */
  maxSteps?: number;
}

/** Labelled images as uint8: `count * 784` pixels and `count` labels. */
export interface LabelledImages {
  /** Pixels, 0 = background. */
  images: Uint8Array;
  /** Labels 0-9. */
  labels: Uint8Array;
}

/**
 * Valid, stride-1 2-D convolution whose gradients are forward convolutions:
 * dW = conv(x^T, dy^T) with batch and channels swapped, dx = conv(pad(dy), flipped W^T).
 */
function conv2dValid(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  inputGrad: boolean,
): tf.Tensor4D {
  const op = tf.customGrad(
    (...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [x, w, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
      save([x, w]);
      return {
        value: tf.conv2d(x, w, 1, "valid") as tf.Tensor, // [B, H-k+1, W-k+1, Co]
        gradFunc: (dyIn: tf.Tensor, saved: tf.Tensor[]) => {
          const dy = dyIn as tf.Tensor4D;
          const [x, w] = saved as [tf.Tensor4D, tf.Tensor4D];
          const [kh, kw] = w.shape;
          // [Ci, H, W, B] conv [Ho, Wo, B, Co] → [Ci, kh, kw, Co] → [kh, kw, Ci, Co]
          const dw = tf.transpose(
            tf.conv2d(
              tf.transpose(x, [3, 1, 2, 0]) as tf.Tensor4D,
              tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D,
              1,
              "valid",
            ),
            [1, 2, 0, 3],
          );
          const dx = inputGrad
            ? tf.conv2d(
              tf.pad(dy, [[0, 0], [kh - 1, kh - 1], [kw - 1, kw - 1], [0, 0]]),
              tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D,
              1,
              "valid",
            )
            : tf.zerosLike(x);
          return [dx, dw];
        },
      };
    },
  );
  return op(x, w) as tf.Tensor4D;
}

/** Matrix product `a [B, n] · w [n, m]` whose gradients use untransposed operands only. */
function dense(a: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  const op = tf.customGrad(
    (...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [a, w, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
      save([a, w]);
      return {
        value: tf.matMul(a, w) as tf.Tensor,
        gradFunc: (dyIn: tf.Tensor, saved: tf.Tensor[]) => {
          const dy = dyIn as tf.Tensor2D;
          const [a, w] = saved as [tf.Tensor2D, tf.Tensor2D];
          return [
            tf.matMul(dy, tf.transpose(w)),
            tf.matMul(tf.transpose(a), dy),
          ];
        },
      };
    },
  );
  return op(a, w) as tf.Tensor2D;
}

/**
 * The classifier's logits `[B, 10]` for images `[B, 28, 28, 1]`, computed from its
 * 8 weight tensors (in `trainableWeights` order) with the fast gradients.
 *
 * @example
 * ```ts ignore
 * import { classifierLogits } from "./classifier_training.ts";
 * const vars = classifier.trainableWeights.map((w) => w.read());
 * const logits = classifierLogits(vars, images);
 * ```
 */
export function classifierLogits(
  vars: tf.Tensor[],
  x: tf.Tensor4D,
): tf.Tensor2D {
  const [k1, b1, k2, b2, k3, b3, k4, b4] = vars;
  let h = tf.relu(
    tf.add(conv2dValid(x, k1 as tf.Tensor4D, false), b1),
  ) as tf.Tensor4D; // [B, 26, 26, 32]
  h = tf.maxPool(h, 2, 2, "valid"); // [B, 13, 13, 32]
  h = tf.relu(tf.add(conv2dValid(h, k2 as tf.Tensor4D, true), b2)); // [B, 11, 11, 64]
  h = tf.maxPool(h, 2, 2, "valid"); // [B, 5, 5, 64]
  const flat = tf.reshape(h, [h.shape[0], -1]) as tf.Tensor2D; // [B, 1600]
  const f = tf.relu(tf.add(dense(flat, k3 as tf.Tensor2D), b3)) as tf.Tensor2D; // [B, 128]
  return tf.add(dense(f, k4 as tf.Tensor2D), b4) as tf.Tensor2D; // [B, 10]
}

/**
 * Trains a classifier built by `buildClassifier()` in place with Adam on
 * softmax cross-entropy, shuffling with a seeded order each epoch.
 * Returns the number of steps taken and the last step's loss.
 *
 * @example
 * ```ts ignore
 * import { buildClassifier } from "./classifier.ts";
 * import { trainClassifier } from "./classifier_training.ts";
 * const c = buildClassifier({ seed: 1 });
 * await trainClassifier(c, { images, labels }, {
 *   epochs: 2, batchSize: 128, learningRate: 1e-3, seed: 1,
 * });
 * ```
 */
export async function trainClassifier(
  classifier: tfl.LayersModel,
  data: LabelledImages,
  options: TrainClassifierOptions,
): Promise<{ steps: number; loss: number }> {
  const count = data.labels.length;
  if (data.images.length !== count * 784) {
    throw new Error(
      `Expected ${
        count * 784
      } pixels for ${count} labelled 28x28 images, got ${data.images.length}`,
    );
  }
  const vars = classifier.trainableWeights.map((w) => w.read() as tf.Variable);
  if (vars.length !== 8) {
    throw new Error(
      `Expected the 8 weight tensors of buildClassifier(), got ${vars.length}`,
    );
  }
  const { batchSize, epochs } = options;
  const logEvery = options.logEvery ?? 50;
  const optimizer = tf.train.adam(options.learningRate);
  const rng = new Rng(options.seed);
  const order = Array.from({ length: count }, (_, i) => i);
  const pixels = new Float32Array(batchSize * 784);
  const labels = new Int32Array(batchSize);
  let step = 0;
  let loss = NaN;
  try {
    for (let epoch = 1; epoch <= epochs; epoch++) {
      rng.shuffle(order);
      for (let start = 0; start + batchSize <= count; start += batchSize) {
        for (let i = 0; i < batchSize; i++) {
          const src = order[start + i] * 784;
          for (let p = 0; p < 784; p++) {
            pixels[i * 784 + p] = data.images[src + p] / 127.5 - 1;
          }
          labels[i] = data.labels[order[start + i]];
        }
        const cost = tf.tidy(() => {
          const x = tf.tensor4d(pixels, [batchSize, 28, 28, 1]);
          const y = tf.oneHot(tf.tensor1d(labels, "int32"), NUM_CLASSES);
          return optimizer.minimize(
            () =>
              tf.losses.softmaxCrossEntropy(
                y,
                classifierLogits(vars, x),
              ) as tf.Scalar,
            true,
            vars,
          )!;
        });
        step++;
        if (step % logEvery === 0 || options.maxSteps === step) {
          loss = (await cost.data())[0];
          options.onLog?.({ epoch, step, loss });
        }
        cost.dispose();
        if (options.maxSteps !== undefined && step >= options.maxSteps) {
          return { steps: step, loss };
        }
      }
    }
  } finally {
    optimizer.dispose();
  }
  return { steps: step, loss };
}
