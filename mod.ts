/**
 * Train a Wasserstein GAN (Arjovsky, Chintala and Bottou 2017: weight clipping,
 * RMSProp) on Fashion-MNIST with TensorFlow.js, and serve the generator as PNG.
 *
 * The pieces, each usable on its own:
 * - {@link Wgan}: Algorithm 1 (critic updates with clipping, generator update);
 *   {@link criticLoss}, {@link generatorLoss}, {@link wassersteinEstimate},
 *   {@link clipWeights}, {@link RmsProp}.
 * - {@link runTraining}: the training loop with checkpoints, losses and samples.
 * - {@link buildGenerator}, {@link buildCritic}: the architectures.
 * - {@link loadFashionMnist}, {@link resolveDataDir}, {@link BatchStream}: data.
 * - {@link saveLayersModel}, {@link loadLayersModel}: TF.js Layers model files.
 * - {@link createApp}: the Hono app that serves a generator.
 * - {@link initBackend}: picks and starts a TF.js backend.
 *
 * @example Train for three generator iterations on tiny batches
 * ```ts
 * import { BatchStream, initBackend, loadFashionMnist, resolveConfig, Wgan } from "./mod.ts";
 * import { FIXTURES_DATA_DIR } from "./lib/data.ts";
 * import * as tf from "@tensorflow/tfjs-core";
 *
 * await initBackend("cpu");
 * const config = resolveConfig({ arch: "mlp", batch: 4, latentDim: 8 });
 * const data = await loadFashionMnist(FIXTURES_DATA_DIR);
 * const stream = new BatchStream(data, { batchSize: config.batch, seed: config.seed });
 * const wgan = new Wgan(config);
 * for (let i = 0; i < 3; i++) {
 *   const { criticLoss, generatorLoss } = wgan.trainIteration(() => stream.next());
 *   console.log(`W ${-(await criticLoss.data())[0]}`);
 *   tf.dispose([criticLoss, generatorLoss]);
 * }
 * wgan.dispose();
 * ```
 *
 * @module
 */
export {
  clipWeights,
  criticIterations,
  criticLoss,
  generatorLoss,
  type IterationLosses,
  trainableVariables,
  wassersteinEstimate,
  Wgan,
  type WganOptions,
} from "./lib/wgan.ts";
export { RmsProp, type RmsPropOptions } from "./lib/rmsprop.ts";
export {
  type BackendName,
  BACKENDS,
  ConfigError,
  DEFAULT_CONFIG,
  resolveConfig,
  type TrainConfig,
} from "./lib/config.ts";
export {
  type LossRecord,
  NonFiniteError,
  type Progress,
  readLosses,
  type RunOptions,
  type RunResult,
  runTraining,
} from "./lib/training.ts";
export {
  type Architecture,
  ARCHITECTURES,
  buildCritic,
  buildGenerator,
  imageSize,
} from "./lib/models.ts";
export {
  BatchStream,
  CLASS_NAMES,
  DataError,
  type FashionMnist,
  loadFashionMnist,
  resolveDataDir,
} from "./lib/data.ts";
export {
  decodeIdx,
  encodeIdx,
  IdxFormatError,
  readIdxFile,
} from "./lib/idx.ts";
export {
  loadLayersModel,
  ModelLoadError,
  saveLayersModel,
} from "./lib/model_io.ts";
export { createApp } from "./lib/serving.ts";
export { encodePng, tileImages, toUint8 } from "./lib/png.ts";
export { lossPlotSvg, writeLossPlot } from "./lib/plot.ts";
export { BackendError, type BackendInfo, initBackend } from "./lib/backend.ts";
export { latentNoise, Rng } from "./lib/random.ts";
