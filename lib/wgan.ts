/**
 * Algorithm 1 of Arjovsky, Chintala and Bottou (2017), "Wasserstein GAN":
 * the losses, weight clipping, and one generator iteration (nCritic critic
 * updates, each followed by clipping, then one generator update).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import type { TrainConfig } from "./config.ts";
import { buildCritic, buildGenerator } from "./models.ts";
import { type FusedRmsPropUpdate, RmsProp } from "./rmsprop.ts";
import { Rng } from "./random.ts";

/**
 * Critic loss, minimised by the critic: `mean f(G(z)) − mean f(x)`.
 * It is minus the Wasserstein estimate, so it is normally negative.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { criticLoss } from "./wgan.ts";
 * await tf.setBackend("cpu");
 * const loss = criticLoss(tf.tensor1d([3, 5]), tf.tensor1d([1, 1]));
 * assert.ok(loss.dataSync()[0] === -3);
 * ```
 */
export function criticLoss(
  realScores: tf.Tensor,
  fakeScores: tf.Tensor,
): tf.Scalar {
  return tf.tidy(() => tf.sub(tf.mean(fakeScores), tf.mean(realScores)));
}

/**
 * Generator loss, minimised by the generator: `−mean f(G(z))`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { generatorLoss } from "./wgan.ts";
 * await tf.setBackend("cpu");
 * assert.ok(generatorLoss(tf.tensor1d([1, 3])).dataSync()[0] === -2);
 * ```
 */
export function generatorLoss(fakeScores: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(fakeScores)));
}

/**
 * The critic's estimate of the Wasserstein distance (up to the Lipschitz
 * constant): `mean f(x) − mean f(G(z))`, i.e. minus the critic loss.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { wassersteinEstimate } from "./wgan.ts";
 * await tf.setBackend("cpu");
 * const w = wassersteinEstimate(tf.tensor1d([3, 5]), tf.tensor1d([1, 1]));
 * assert.ok(w.dataSync()[0] === 3);
 * ```
 */
export function wassersteinEstimate(
  realScores: tf.Tensor,
  fakeScores: tf.Tensor,
): tf.Scalar {
  return tf.tidy(() => tf.sub(tf.mean(realScores), tf.mean(fakeScores)));
}

/**
 * Clips every variable to [−clipValue, clipValue] in place (the paper's
 * `w ← clip(w, −c, c)`). Values already inside are unchanged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { clipWeights } from "./wgan.ts";
 * await tf.setBackend("cpu");
 * const w = tf.variable(tf.tensor1d([-1, 0.005, 1]));
 * clipWeights([w], 0.01);
 * assert.deepEqual([...w.dataSync()], [-0.01, 0.005, 0.01].map(Math.fround));
 * ```
 */
export function clipWeights(variables: tf.Variable[], clipValue: number): void {
  tf.tidy(() => {
    for (const v of variables) {
      v.assign(tf.clipByValue(v, -clipValue, clipValue));
    }
  });
}

/** Number of critic updates for generator iteration `generatorIteration` (0-based). */
export function criticIterations(
  config: Pick<TrainConfig, "nCritic" | "criticWarmup">,
  generatorIteration: number,
): number {
  // The official code's schedule: 100 critic updates early on and every 500 iterations.
  if (
    config.criticWarmup &&
    (generatorIteration < 25 || generatorIteration % 500 === 0)
  ) {
    return 100;
  }
  return config.nCritic;
}

/** The trainable tf.Variables of a Layers model, in a fixed order. */
export function trainableVariables(model: tfl.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

/** Losses of one generator iteration, as scalars still on the device. */
export interface IterationLosses {
  /** The last critic update's loss, `mean f(G(z)) − mean f(x)`. */
  criticLoss: tf.Scalar;
  /** The generator update's loss, `−mean f(G(z))`. */
  generatorLoss: tf.Scalar;
}

/** Options of {@link Wgan}. */
export interface WganOptions {
  /** A fused RMSProp(+clip) kernel for the current backend, if any. */
  fusedUpdate?: FusedRmsPropUpdate;
  /** Use these models instead of building new ones (tests). */
  generator?: tfl.LayersModel;
  critic?: tfl.LayersModel;
}

/**
 * A WGAN in training: generator, critic, their RMSProp optimizers, and the
 * random generator for z. Call {@link Wgan.trainIteration} once per
 * generator iteration.
 *
 * @example
 * ```ts ignore
 * import { Wgan } from "./wgan.ts";
 * const wgan = new Wgan(config);
 * const losses = wgan.trainIteration(() => stream.next());
 * console.log(-(await losses.criticLoss.data())[0]); // Wasserstein estimate
 * tf.dispose([losses.criticLoss, losses.generatorLoss]);
 * ```
 */
export class Wgan {
  readonly config: TrainConfig;
  readonly generator: tfl.LayersModel;
  readonly critic: tfl.LayersModel;
  readonly criticOptimizer: RmsProp;
  readonly generatorOptimizer: RmsProp;
  /** Source of z ~ N(0, I); its state goes into checkpoints. */
  noiseRng: Rng;
  /** Generator iterations done. */
  iteration = 0;
  #criticVariables: tf.Variable[];
  #generatorVariables: tf.Variable[];

  constructor(config: TrainConfig, options: WganOptions = {}) {
    this.config = config;
    const modelOptions = {
      arch: config.arch,
      latentDim: config.latentDim,
      seed: config.seed,
    };
    this.generator = options.generator ?? buildGenerator(modelOptions);
    this.critic = options.critic ?? buildCritic(modelOptions);
    this.#criticVariables = trainableVariables(this.critic);
    this.#generatorVariables = trainableVariables(this.generator);
    // Clipping is part of the critic's update (Algorithm 1, line 7-8), never the generator's.
    this.criticOptimizer = new RmsProp(this.#criticVariables, {
      lr: config.lr,
      clipValue: config.clip,
    }, options.fusedUpdate);
    this.generatorOptimizer = new RmsProp(this.#generatorVariables, {
      lr: config.lr,
    }, options.fusedUpdate);
    this.noiseRng = new Rng((config.seed ^ 0x5eed) >>> 0);
  }

  /** Fresh z ~ N(0, I), `[batch, latentDim]`. */
  sampleNoise(batch = this.config.batch): tf.Tensor2D {
    const z = new Float32Array(batch * this.config.latentDim);
    return tf.tensor2d(this.noiseRng.fillNormal(z), [
      batch,
      this.config.latentDim,
    ]);
  }

  /**
   * One critic update on a real batch `x` and noise `z`: minimise
   * `mean f(G(z)) − mean f(x)` with RMSProp, then clip every critic variable.
   * Returns the loss before the update.
   */
  criticStep(x: tf.Tensor, z: tf.Tensor): tf.Scalar {
    return tf.tidy(() => {
      // G is not updated here: its output is a constant for the critic's gradient.
      const fake = this.generator.apply(z, { training: true }) as tf.Tensor;
      const { value, grads } = tf.variableGrads(() => {
        const realScores = this.critic.apply(x, {
          training: true,
        }) as tf.Tensor;
        const fakeScores = this.critic.apply(fake, {
          training: true,
        }) as tf.Tensor;
        return criticLoss(realScores, fakeScores);
      }, this.#criticVariables);
      this.criticOptimizer.step(
        this.#criticVariables.map((v) => grads[v.name]),
      );
      return value;
    });
  }

  /** One generator update on noise `z`: minimise `−mean f(G(z))`. Returns the loss. */
  generatorStep(z: tf.Tensor): tf.Scalar {
    return tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => {
        const fake = this.generator.apply(z, { training: true }) as tf.Tensor;
        return generatorLoss(
          this.critic.apply(fake, { training: true }) as tf.Tensor,
        );
      }, this.#generatorVariables);
      this.generatorOptimizer.step(
        this.#generatorVariables.map((v) => grads[v.name]),
      );
      return value;
    });
  }

  /**
   * One generator iteration of Algorithm 1: `nCritic` critic updates, each on a
   * fresh real batch from `nextRealBatch` and fresh noise, then one generator
   * update. The caller owns (and must dispose) the returned losses.
   */
  trainIteration(nextRealBatch: () => tf.Tensor): IterationLosses {
    const nCritic = criticIterations(this.config, this.iteration);
    let lastCriticLoss: tf.Scalar | undefined;
    for (let t = 0; t < nCritic; t++) {
      const x = nextRealBatch(); // [m, S, S, 1]
      const z = this.sampleNoise(); // [m, latentDim]
      lastCriticLoss?.dispose();
      lastCriticLoss = this.criticStep(x, z);
      tf.dispose([x, z]);
    }
    const z = this.sampleNoise();
    const generatorLossValue = this.generatorStep(z);
    z.dispose();
    this.iteration++;
    return { criticLoss: lastCriticLoss!, generatorLoss: generatorLossValue };
  }

  /** Frees both models and the optimizers' state. */
  dispose(): void {
    this.criticOptimizer.dispose();
    this.generatorOptimizer.dispose();
    this.generator.dispose();
    this.critic.dispose();
  }
}
