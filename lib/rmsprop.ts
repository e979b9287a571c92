/**
 * RMSProp as in the WGAN reference code (PyTorch's `optim.RMSprop` defaults),
 * with the paper's weight clipping as an option applied right after each update.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** RMSProp hyper-parameters. */
export interface RmsPropOptions {
  /** Learning rate α. */
  lr: number;
  /** Decay of the mean-square average (PyTorch's default 0.99). */
  alpha?: number;
  /** Added to the root mean square (PyTorch's default 1e-8). */
  eps?: number;
  /** If set, clip every variable to [-clipValue, clipValue] after each update. */
  clipValue?: number;
}

/** A fused kernel doing one variable's update (and clip) in one pass, if a backend offers one. */
export type FusedRmsPropUpdate = (
  variable: tf.Variable,
  meanSquare: tf.Variable,
  gradient: tf.Tensor,
  options: Required<Omit<RmsPropOptions, "clipValue">> & { clipValue?: number },
) => void;

/**
 * RMSProp over a fixed list of variables:
 * `ms ← α·ms + (1 − α)·g²; w ← w − lr·g / (√ms + ε)`, then, if `clipValue` is
 * set, `w ← clip(w, −c, c)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { RmsProp } from "./rmsprop.ts";
 * await tf.setBackend("cpu");
 * const w = tf.variable(tf.tensor1d([1]));
 * const opt = new RmsProp([w], { lr: 0.1 });
 * opt.step([tf.tensor1d([2])]); // ms = 0.04; w = 1 - 0.1 * 2 / 0.2 = 0
 * assert.ok(Math.abs(w.dataSync()[0]) < 1e-6);
 * opt.dispose();
 * ```
 */
export class RmsProp {
  readonly variables: tf.Variable[];
  readonly lr: number;
  readonly alpha: number;
  readonly eps: number;
  readonly clipValue?: number;
  /** One mean-square accumulator per variable, starting at zero. */
  readonly meanSquares: tf.Variable[];
  /** Updates applied so far. */
  steps = 0;
  #fused?: FusedRmsPropUpdate;

  constructor(
    variables: tf.Variable[],
    options: RmsPropOptions,
    fused?: FusedRmsPropUpdate,
  ) {
    this.variables = variables;
    this.lr = options.lr;
    this.alpha = options.alpha ?? 0.99;
    this.eps = options.eps ?? 1e-8;
    this.clipValue = options.clipValue;
    this.#fused = fused;
    this.meanSquares = variables.map((v) =>
      tf.tidy(() => tf.variable(tf.zerosLike(v), false, `${v.name}/rms`))
    );
  }

  /** Applies one update; `gradients[i]` belongs to `variables[i]`. */
  step(gradients: tf.Tensor[]): void {
    if (gradients.length !== this.variables.length) {
      throw new Error(
        `Expected ${this.variables.length} gradients, got ${gradients.length}`,
      );
    }
    const { lr, alpha, eps, clipValue } = this;
    if (this.#fused) {
      for (let i = 0; i < gradients.length; i++) {
        this.#fused(this.variables[i], this.meanSquares[i], gradients[i], {
          lr,
          alpha,
          eps,
          clipValue,
        });
      }
    } else {
      tf.tidy(() => {
        gradients.forEach((g, i) => {
          const w = this.variables[i];
          const ms = this.meanSquares[i];
          const newMs = tf.add(
            tf.mul(ms, alpha),
            tf.mul(tf.square(g), 1 - alpha),
          );
          ms.assign(newMs);
          const updated = tf.sub(
            w,
            tf.div(tf.mul(g, lr), tf.add(tf.sqrt(newMs), eps)),
          );
          w.assign(
            clipValue === undefined
              ? updated
              : tf.clipByValue(updated, -clipValue, clipValue),
          );
        });
      });
    }
    this.steps++;
  }

  /** The accumulators' values, for a checkpoint. */
  async getState(): Promise<{ steps: number; meanSquares: Float32Array[] }> {
    return {
      steps: this.steps,
      meanSquares: await Promise.all(
        this.meanSquares.map(async (m) => (await m.data()) as Float32Array),
      ),
    };
  }

  /** Restores accumulators saved by {@link RmsProp.getState}. */
  setState(state: { steps: number; meanSquares: Float32Array[] }): void {
    if (state.meanSquares.length !== this.meanSquares.length) {
      throw new Error(
        `Expected ${this.meanSquares.length} RMSProp accumulators, got ${state.meanSquares.length}`,
      );
    }
    state.meanSquares.forEach((values, i) => {
      const m = this.meanSquares[i];
      if (values.length !== m.size) {
        throw new Error(
          `Expected ${m.size} values for accumulator ${m.name}, got ${values.length}`,
        );
      }
      tf.tidy(() => m.assign(tf.tensor(values, m.shape)));
    });
    this.steps = state.steps;
  }

  /** Frees the accumulators (not the variables, which belong to the model). */
  dispose(): void {
    for (const m of this.meanSquares) m.dispose();
  }
}
