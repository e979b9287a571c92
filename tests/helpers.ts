/** Shared test fixtures: tiny models and data, so the algorithm's tests run in seconds. */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import * as tfl from "@tensorflow/tfjs-layers";
import { resolveConfig, type TrainConfig } from "../lib/config.ts";
import type { FashionMnist } from "../lib/data.ts";
import { Rng } from "../lib/random.ts";

/** Switches to the cpu backend (quietly). */
export async function useCpu(): Promise<void> {
  tf.enableProdMode();
  await tf.setBackend("cpu");
  await tf.ready();
}

/**
 * A tiny WGAN pair for 28x28 images: generator latentDim → 16 → 784 (tanh),
 * critic 784 → 16 (LeakyReLU) → 1. Same interfaces as the real models.
 */
export function tinyModels(
  config: Pick<TrainConfig, "latentDim" | "seed">,
): { generator: tfl.LayersModel; critic: tfl.LayersModel } {
  const init = (seed: number) =>
    tfl.initializers.randomNormal({ mean: 0, stddev: 0.02, seed });
  const generator = tfl.sequential({
    layers: [
      tfl.layers.dense({
        inputShape: [config.latentDim],
        units: 16,
        kernelInitializer: init(config.seed + 1),
      }),
      tfl.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5 }),
      tfl.layers.reLU(),
      tfl.layers.dense({
        units: 784,
        activation: "tanh",
        kernelInitializer: init(config.seed + 2),
      }),
      tfl.layers.reshape({ targetShape: [28, 28, 1] }),
    ],
  });
  const critic = tfl.sequential({
    layers: [
      tfl.layers.flatten({ inputShape: [28, 28, 1] }),
      tfl.layers.dense({ units: 16, kernelInitializer: init(config.seed + 3) }),
      tfl.layers.leakyReLU({ alpha: 0.2 }),
      tfl.layers.dense({ units: 1, kernelInitializer: init(config.seed + 4) }),
    ],
  });
  return { generator, critic };
}

/** A small training configuration for the tiny models. */
export function tinyConfig(overrides: Partial<TrainConfig> = {}): TrainConfig {
  return resolveConfig({
    batch: 8,
    latentDim: 8,
    backend: "cpu",
    sampleEvery: 0,
    checkpointEvery: 0,
    ...overrides,
  });
}

/** `count` random 28x28 uint8 images with labels. */
export function randomDataset(count: number, seed = 1): FashionMnist {
  const rng = new Rng(seed);
  const images = new Uint8Array(count * 784);
  for (let i = 0; i < images.length; i++) images[i] = rng.nextInt(256);
  const labels = new Uint8Array(count).map(() => rng.nextInt(10));
  return { dir: "memory", count, size: 28, images, labels };
}

/** Largest |value| over a list of variables. */
export function maxAbs(variables: tf.Tensor[]): number {
  return Math.max(
    ...variables.map((v) => tf.tidy(() => tf.max(tf.abs(v)).dataSync()[0])),
  );
}

/** A fresh temporary folder. */
export async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "wgan-test-" });
}
