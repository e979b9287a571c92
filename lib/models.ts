/**
 * The critic and generator architectures: `dcgan28` (the default), `dcgan64`
 * (the paper's 64x64 DCGAN) and `mlp` (the paper's MLP experiment).
 *
 * Images are NHWC, values in [-1, 1]. The critic has no sigmoid: it outputs a
 * score, not a probability.
 *
 * @module
 */
import * as tfl from "@tensorflow/tfjs-layers";

/** Names of the available architectures. */
export const ARCHITECTURES = ["dcgan28", "dcgan64", "mlp"] as const;
/** One of {@link ARCHITECTURES}. */
export type Architecture = typeof ARCHITECTURES[number];

/** Options shared by the model builders. */
export interface ModelOptions {
  /** Architecture name. */
  arch: Architecture;
  /** Size of the latent vector z. */
  latentDim: number;
  /** Seed for the N(0, 0.02) weight initialisation. */
  seed: number;
}

/** Side length of the images an architecture works on. */
export function imageSize(arch: Architecture): number {
  return arch === "dcgan64" ? 64 : 28;
}

// DCGAN initialisation (Radford et al.): weights N(0, 0.02), batch-norm scale N(1, 0.02).
function weights(
  seed: number,
): ReturnType<typeof tfl.initializers.randomNormal> {
  return tfl.initializers.randomNormal({ mean: 0, stddev: 0.02, seed });
}

// PyTorch's batch-norm defaults (momentum 0.1 there is 0.9 here), as in the reference code.
function batchNorm(seed: number): tfl.layers.Layer {
  return tfl.layers.batchNormalization({
    momentum: 0.9,
    epsilon: 1e-5,
    gammaInitializer: tfl.initializers.randomNormal({
      mean: 1,
      stddev: 0.02,
      seed,
    }),
  });
}

/**
 * Builds the generator G: z `[B, latentDim]` → images `[B, S, S, 1]` in [-1, 1].
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { buildGenerator } from "./models.ts";
 * const g = buildGenerator({ arch: "dcgan28", latentDim: 100, seed: 1 });
 * assert.ok(g.outputs[0].shape[1] === 28);
 * g.dispose();
 * ```
 */
export function buildGenerator(options: ModelOptions): tfl.LayersModel {
  const { arch, latentDim } = options;
  let seed = options.seed * 1000 + 1;
  const s = () => seed++;
  const g = tfl.sequential({ name: "generator" });
  if (arch === "dcgan28") {
    g.add(tfl.layers.dense({
      inputShape: [latentDim],
      units: 7 * 7 * 128,
      useBias: false,
      kernelInitializer: weights(s()),
    })); // [B, 6272]
    g.add(tfl.layers.reshape({ targetShape: [7, 7, 128] })); // [B, 7, 7, 128]
    g.add(batchNorm(s()));
    g.add(tfl.layers.reLU());
    g.add(tfl.layers.conv2dTranspose({
      filters: 64,
      kernelSize: 4,
      strides: 2,
      padding: "same",
      useBias: false,
      kernelInitializer: weights(s()),
    })); // [B, 14, 14, 64]
    g.add(batchNorm(s()));
    g.add(tfl.layers.reLU());
    g.add(tfl.layers.conv2dTranspose({
      filters: 1,
      kernelSize: 4,
      strides: 2,
      padding: "same",
      kernelInitializer: weights(s()),
    })); // [B, 28, 28, 1]
    g.add(tfl.layers.activation({ activation: "tanh" }));
  } else if (arch === "dcgan64") {
    // Radford et al.'s generator as in the WGAN reference code: 1 → 4 → 8 → 16 → 32 → 64.
    const channels = [512, 256, 128, 64];
    g.add(tfl.layers.reshape({
      inputShape: [latentDim],
      targetShape: [1, 1, latentDim],
    })); // [B, 1, 1, latentDim]
    g.add(tfl.layers.conv2dTranspose({
      filters: channels[0],
      kernelSize: 4,
      strides: 1,
      padding: "valid",
      useBias: false,
      kernelInitializer: weights(s()),
    })); // [B, 4, 4, 512]
    g.add(batchNorm(s()));
    g.add(tfl.layers.reLU());
    for (const filters of channels.slice(1)) {
      g.add(tfl.layers.conv2dTranspose({
        filters,
        kernelSize: 4,
        strides: 2,
        padding: "same",
        useBias: false,
        kernelInitializer: weights(s()),
      })); // doubles height and width
      g.add(batchNorm(s()));
      g.add(tfl.layers.reLU());
    }
    g.add(tfl.layers.conv2dTranspose({
      filters: 1,
      kernelSize: 4,
      strides: 2,
      padding: "same",
      kernelInitializer: weights(s()),
    })); // [B, 64, 64, 1]
    g.add(tfl.layers.activation({ activation: "tanh" }));
  } else {
    // The paper's MLP generator: 4 hidden layers of 512 units with ReLU.
    for (let i = 0; i < 4; i++) {
      g.add(tfl.layers.dense({
        ...(i === 0 ? { inputShape: [latentDim] } : {}),
        units: 512,
        activation: "relu",
        kernelInitializer: weights(s()),
      }));
    }
    g.add(tfl.layers.dense({
      units: 28 * 28,
      activation: "tanh",
      kernelInitializer: weights(s()),
    })); // [B, 784]
    g.add(tfl.layers.reshape({ targetShape: [28, 28, 1] })); // [B, 28, 28, 1]
  }
  return g;
}

/**
 * Builds the critic f: images `[B, S, S, 1]` → scores `[B, 1]` (no sigmoid).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { buildCritic } from "./models.ts";
 * const f = buildCritic({ arch: "dcgan28", latentDim: 100, seed: 1 });
 * assert.ok(f.outputs[0].shape[1] === 1);
 * f.dispose();
 * ```
 */
export function buildCritic(options: ModelOptions): tfl.LayersModel {
  const { arch } = options;
  const size = imageSize(arch);
  let seed = options.seed * 1000 + 501;
  const s = () => seed++;
  const f = tfl.sequential({ name: "critic" });
  if (arch === "dcgan28") {
    f.add(tfl.layers.conv2d({
      inputShape: [size, size, 1],
      filters: 64,
      kernelSize: 4,
      strides: 2,
      padding: "same",
      kernelInitializer: weights(s()),
    })); // [B, 14, 14, 64]
    f.add(tfl.layers.leakyReLU({ alpha: 0.2 }));
    f.add(tfl.layers.conv2d({
      filters: 128,
      kernelSize: 4,
      strides: 2,
      padding: "same",
      kernelInitializer: weights(s()),
    })); // [B, 7, 7, 128]
    f.add(tfl.layers.leakyReLU({ alpha: 0.2 }));
    f.add(tfl.layers.flatten()); // [B, 6272]
    f.add(tfl.layers.dense({ units: 1, kernelInitializer: weights(s()) })); // [B, 1]
  } else if (arch === "dcgan64") {
    // Radford et al.'s discriminator without the sigmoid: 64 → 32 → 16 → 8 → 4 → 1.
    const channels = [64, 128, 256, 512];
    channels.forEach((filters, i) => {
      f.add(tfl.layers.conv2d({
        ...(i === 0 ? { inputShape: [size, size, 1] } : {}),
        filters,
        kernelSize: 4,
        strides: 2,
        padding: "same",
        useBias: i === 0,
        kernelInitializer: weights(s()),
      })); // halves height and width
      if (i > 0) f.add(batchNorm(s()));
      f.add(tfl.layers.leakyReLU({ alpha: 0.2 }));
    });
    f.add(tfl.layers.conv2d({
      filters: 1,
      kernelSize: 4,
      strides: 1,
      padding: "valid",
      useBias: false,
      kernelInitializer: weights(s()),
    })); // [B, 1, 1, 1]
    f.add(tfl.layers.flatten()); // [B, 1]
  } else {
    // The paper's MLP critic: 4 hidden layers of 512 units with ReLU.
    f.add(tfl.layers.flatten({ inputShape: [size, size, 1] })); // [B, 784]
    for (let i = 0; i < 4; i++) {
      f.add(tfl.layers.dense({
        units: 512,
        activation: "relu",
        kernelInitializer: weights(s()),
      }));
    }
    f.add(tfl.layers.dense({ units: 1, kernelInitializer: weights(s()) })); // [B, 1]
  }
  return f;
}
