/**
 * The one flat training configuration, with the paper's defaults
 * (Arjovsky, Chintala and Bottou 2017, Algorithm 1).
 *
 * @module
 */
import { type Architecture, ARCHITECTURES } from "./models.ts";

/**
 * Backends a run can ask for: `blas` is the cpu backend with OpenBLAS matrix
 * products; `auto` picks the fastest that works here.
 */
export const BACKENDS = ["webgpu", "cpu", "wasm", "blas", "auto"] as const;
/** One of {@link BACKENDS}. */
export type BackendName = typeof BACKENDS[number];

/** Everything that defines a training run. Stored in every checkpoint. */
export interface TrainConfig {
  /** Generator iterations to run. */
  iterations: number;
  /** Batch size m (paper: 64). */
  batch: number;
  /** RMSProp learning rate α (paper: 5e-5). */
  lr: number;
  /** Weight clipping constant c (paper: 0.01). */
  clip: number;
  /** Critic updates per generator update, n_critic (paper: 5). */
  nCritic: number;
  /** Size of z (DCGAN: 100). */
  latentDim: number;
  /** Model architecture. */
  arch: Architecture;
  /** Backend to train on. */
  backend: BackendName;
  /** Seed for weights, data order and noise. */
  seed: number;
  /** Official code's warm-up: 100 critic updates for the first 25 and every 500th generator iteration. */
  criticWarmup: boolean;
  /** Write a sample grid from fixed noise every K generator iterations. */
  sampleEvery: number;
  /** Write a checkpoint every K generator iterations. */
  checkpointEvery: number;
  /** Keep the last K checkpoints. */
  keep: number;
  /** Record the FID at a small image count every K generator iterations (0: never). */
  evalEvery: number;
}

/** Paper defaults (Algorithm 1) and this project's run defaults. */
export const DEFAULT_CONFIG: Readonly<TrainConfig> = Object.freeze({
  iterations: 1000,
  batch: 64, // m, Algorithm 1
  lr: 5e-5, // α, Algorithm 1
  clip: 0.01, // c, Algorithm 1
  nCritic: 5, // n_critic, Algorithm 1
  latentDim: 100, // DCGAN's z
  arch: "dcgan28",
  backend: "webgpu",
  seed: 0,
  criticWarmup: false, // the official code's Diters = 100 schedule, off: not in Algorithm 1
  sampleEvery: 100,
  checkpointEvery: 100,
  keep: 2,
  evalEvery: 0,
});

/** Error for a configuration value that is out of range or of the wrong type. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

type Check = (value: unknown) => string | undefined;

const positiveInt: Check = (v) =>
  Number.isInteger(v) && (v as number) >= 1 ? undefined : "a positive integer";
const nonNegativeInt: Check = (v) =>
  Number.isInteger(v) && (v as number) >= 0
    ? undefined
    : "a non-negative integer";
const positiveNumber: Check = (v) =>
  typeof v === "number" && Number.isFinite(v) && v > 0
    ? undefined
    : "a positive number";
const oneOf = (values: readonly string[]): Check => (v) =>
  values.includes(v as string) ? undefined : `one of ${values.join(", ")}`;

const CHECKS: Record<keyof TrainConfig, Check> = {
  iterations: positiveInt,
  batch: positiveInt,
  lr: positiveNumber,
  clip: positiveNumber,
  nCritic: positiveInt,
  latentDim: positiveInt,
  arch: oneOf(ARCHITECTURES),
  backend: oneOf(BACKENDS),
  seed: (v) =>
    Number.isInteger(v) && (v as number) >= 0 && (v as number) < 2 ** 32
      ? undefined
      : "an integer in [0, 2^32)",
  criticWarmup: (v) => typeof v === "boolean" ? undefined : "true or false",
  sampleEvery: nonNegativeInt,
  checkpointEvery: nonNegativeInt,
  keep: positiveInt,
  evalEvery: nonNegativeInt,
};

/**
 * Applies `overrides` to the defaults. Unknown keys and values of the wrong type
 * or range are a {@link ConfigError} that names the key and what was expected.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveConfig } from "./config.ts";
 * const config = resolveConfig({ iterations: 3 });
 * assert.ok(config.nCritic === 5 && config.clip === 0.01);
 * ```
 */
export function resolveConfig(
  overrides: object = {},
  base: Readonly<TrainConfig> = DEFAULT_CONFIG,
): TrainConfig {
  const config = { ...base } as Record<string, unknown>;
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    if (!(key in CHECKS)) {
      throw new ConfigError(`Unknown configuration key "${key}"`);
    }
    const expected = CHECKS[key as keyof TrainConfig](value);
    if (expected) {
      throw new ConfigError(
        `Expected ${key} to be ${expected}, got ${JSON.stringify(value)}`,
      );
    }
    config[key] = value;
  }
  return config as unknown as TrainConfig;
}
