/**
 * A training run: Algorithm 1 in a loop, with the outputs a user keeps —
 * models, configuration, per-iteration losses, sample grids from fixed noise,
 * checkpoints to resume from — all written atomically into one folder.
 *
 * Output folder:
 * - `config.json`: the resolved configuration
 * - `generator/`, `critic/`: TF.js Layers models (`model.json` + `weights.bin`)
 * - `losses.jsonl`: one record per generator iteration
 * - `samples/iter_NNNNNN.png`: grids from fixed noise
 * - `checkpoints/iter_NNNNNN/`: everything needed to resume
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import { writeFileAtomic } from "./atomic.ts";
import {
  checkpointName,
  loadWeightsInto,
  readLatestCheckpoint,
  writeCheckpoint,
} from "./checkpoint.ts";
import type { TrainConfig } from "./config.ts";
import { BatchStream, type FashionMnist } from "./data.ts";
import { imageSize } from "./models.ts";
import { saveLayersModel } from "./model_io.ts";
import { encodePng, tileImages, toUint8 } from "./png.ts";
import { Rng } from "./random.ts";
import type { FusedRmsPropUpdate } from "./rmsprop.ts";
import { trainableVariables, Wgan } from "./wgan.ts";

/** One line of `losses.jsonl`. */
export interface LossRecord {
  /** Generator iteration, from 1. */
  iteration: number;
  /** Last critic update's loss, `mean f(G(z)) − mean f(x)`. */
  criticLoss: number;
  /** Generator update's loss, `−mean f(G(z))`. */
  generatorLoss: number;
  /** `−criticLoss`: the critic's estimate of the Wasserstein distance. */
  wassersteinEstimate: number;
  /** Wall time of this iteration in ms (averaged over the read-back window). */
  ms: number;
  /** FID at a small image count, on iterations where it was measured. */
  fid?: number;
}

/** Progress reported after losses are read back. */
export interface Progress {
  /** Latest record. */
  record: LossRecord;
  /** Iterations this run will reach. */
  total: number;
  /** Median ms per iteration over recent iterations. */
  msPerIteration: number;
  /** Estimated ms to go. */
  etaMs: number;
}

/** Things a run tells its caller about, besides progress. */
export type TrainingEvent =
  | { kind: "resumed"; iteration: number; checkpoint: string }
  | { kind: "sample"; iteration: number; path: string }
  | { kind: "checkpoint"; iteration: number; path: string }
  | { kind: "stopped"; iteration: number };

/** Options of {@link runTraining}. */
export interface RunOptions {
  /** Output folder. */
  out: string;
  /** The training images. */
  data: FashionMnist;
  /** Continue from the newest checkpoint in `out`. */
  resume?: boolean;
  /** Stop early (a checkpoint is written first). */
  signal?: AbortSignal;
  /** Called after each read-back of losses. */
  onProgress?: (progress: Progress) => void;
  /** Called on samples, checkpoints, resume and stop. */
  onEvent?: (event: TrainingEvent) => void;
  /** Measures the generator's FID (used every `config.evalEvery` iterations). */
  evaluate?: (generator: tfl.LayersModel) => Promise<number>;
  /** A fused RMSProp(+clip) kernel for the active backend. */
  fusedUpdate?: FusedRmsPropUpdate;
  /** Called after each checkpoint, e.g. to redraw the loss curves. */
  afterCheckpoint?: (out: string) => Promise<void>;
  /** Builds the models instead of `config.arch` (tests use tiny ones). */
  buildModels?: (
    config: TrainConfig,
  ) => { generator: tfl.LayersModel; critic: tfl.LayersModel };
  /** Longest time between loss read-backs, ms (read-backs stall the device). */
  readBackMs?: number;
}

/** What a finished (or stopped) run reports. */
export interface RunResult {
  /** Generator iterations completed. */
  iteration: number;
  /** Whether the run was stopped by the signal before the last iteration. */
  stopped: boolean;
  /** Last loss record. */
  last?: LossRecord;
  /** Training wall time, ms, including earlier runs that were resumed. */
  elapsedMs: number;
}

/** Error for a loss or weight that is NaN or infinite. */
export class NonFiniteError extends Error {
  override name = "NonFiniteError";
}

/** Number of images in the fixed-noise sample grids. */
export const SAMPLE_GRID_COUNT = 64;
/** Seed of the fixed noise behind the sample grids. */
export const SAMPLE_SEED = 123;

/** Path of the sample grid written after `iteration` iterations. */
export function samplePath(out: string, iteration: number): string {
  return `${out}/samples/${checkpointName(iteration)}.png`;
}

/** Reads `losses.jsonl`, dropping a torn last line and records after `upTo`. */
export async function readLosses(
  path: string,
  upTo = Infinity,
): Promise<LossRecord[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  const records: LossRecord[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as LossRecord;
      if (r.iteration <= upTo) records.push(r);
    } catch {
      break; // a line torn by a crash: what follows it is not trusted
    }
  }
  return records;
}

/** Whether every value of every variable is finite (one asynchronous read-back). */
async function allFinite(variables: tf.Variable[]): Promise<boolean> {
  const flags = tf.tidy(() =>
    tf.stack(variables.map((v) => tf.all(tf.isFinite(tf.reshape(v, [-1])))))
  );
  const values = await flags.data();
  flags.dispose();
  return values.every((f) => f === 1);
}

/** Writes a grid of generator samples from the fixed noise. */
async function writeSampleGrid(
  generator: tfl.LayersModel,
  fixedNoise: tf.Tensor2D,
  size: number,
  path: string,
): Promise<void> {
  const images = tf.tidy(() =>
    tf.image.resizeBilinear(
      generator.predict(fixedNoise) as tf.Tensor4D,
      [size, size],
    )
  );
  const pixels = toUint8((await images.data()) as Float32Array);
  images.dispose();
  const grid = tileImages(pixels, fixedNoise.shape[0], { size });
  await writeFileAtomic(path, await encodePng(grid));
}

/**
 * Runs (or resumes) training as configured, writing into `options.out`.
 *
 * @example
 * ```ts ignore
 * import { resolveConfig } from "./config.ts";
 * import { loadFashionMnist, resolveDataDir } from "./data.ts";
 * import { runTraining } from "./training.ts";
 * const data = await loadFashionMnist((await resolveDataDir()).dir);
 * await runTraining(resolveConfig({ iterations: 3 }), { out: "runs/a", data });
 * ```
 */
export async function runTraining(
  config: TrainConfig,
  options: RunOptions,
): Promise<RunResult> {
  const { out, data } = options;
  const size = imageSize(config.arch);
  await Deno.mkdir(`${out}/samples`, { recursive: true });
  const wgan = new Wgan(config, {
    fusedUpdate: options.fusedUpdate,
    ...options.buildModels?.(config),
  });
  const stream = new BatchStream(data, {
    batchSize: config.batch,
    seed: config.seed,
    outSize: size,
  });
  const lossesPath = `${out}/losses.jsonl`;
  let elapsedBefore = 0;

  if (options.resume) {
    const checkpoint = await readLatestCheckpoint(`${out}/checkpoints`);
    await loadWeightsInto(wgan.generator, `${checkpoint.dir}/generator`);
    await loadWeightsInto(wgan.critic, `${checkpoint.dir}/critic`);
    wgan.criticOptimizer.setState({
      steps: checkpoint.state.criticSteps,
      meanSquares: checkpoint.criticMeanSquares,
    });
    wgan.generatorOptimizer.setState({
      steps: checkpoint.state.generatorSteps,
      meanSquares: checkpoint.generatorMeanSquares,
    });
    wgan.noiseRng = new Rng(checkpoint.state.noiseRng);
    wgan.iteration = checkpoint.state.iteration;
    stream.restore(checkpoint.state.data);
    elapsedBefore = checkpoint.state.elapsedMs;
    // losses.jsonl must agree with the checkpoint: drop what came after it.
    const kept = await readLosses(lossesPath, checkpoint.state.iteration);
    await writeFileAtomic(
      lossesPath,
      kept.map((r) => JSON.stringify(r) + "\n").join(""),
    );
    options.onEvent?.({
      kind: "resumed",
      iteration: checkpoint.state.iteration,
      checkpoint: checkpoint.dir,
    });
  } else {
    await writeFileAtomic(lossesPath, "");
  }
  await writeFileAtomic(
    `${out}/config.json`,
    JSON.stringify(config, null, 2) + "\n",
  );

  const fixedNoise = tf.tensor2d(
    new Rng(SAMPLE_SEED).fillNormal(
      new Float32Array(SAMPLE_GRID_COUNT * config.latentDim),
    ),
    [SAMPLE_GRID_COUNT, config.latentDim],
  );
  const lossesFile = await Deno.open(lossesPath, { append: true });
  const encoder = new TextEncoder();
  const readBackMs = options.readBackMs ?? 2000;
  const recentMs: number[] = [];
  let pending: {
    iteration: number;
    losses: ReturnType<Wgan["trainIteration"]>;
  }[] = [];
  let last: LossRecord | undefined;
  let lastReadBack = performance.now();
  let runMs = 0;
  const startIteration = wgan.iteration;

  // Reads back the pending losses (one device sync for several iterations).
  const flush = async (fid?: number) => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    const values = await Promise.all(
      batch.flatMap(({ losses }) => [
        losses.criticLoss.data(),
        losses.generatorLoss.data(),
      ]),
    );
    tf.dispose(batch.flatMap(({ losses }) => [
      losses.criticLoss,
      losses.generatorLoss,
    ]));
    const now = performance.now();
    const ms = (now - lastReadBack) / batch.length;
    runMs += now - lastReadBack;
    lastReadBack = now;
    let lines = "";
    for (let i = 0; i < batch.length; i++) {
      const criticLoss = values[2 * i][0] as number;
      const generatorLoss = values[2 * i + 1][0] as number;
      if (!Number.isFinite(criticLoss) || !Number.isFinite(generatorLoss)) {
        throw new NonFiniteError(
          `Loss became non-finite at iteration ${
            batch[i].iteration
          } (critic ${criticLoss}, generator ${generatorLoss}); the last good checkpoint is kept`,
        );
      }
      last = {
        iteration: batch[i].iteration,
        criticLoss,
        generatorLoss,
        wassersteinEstimate: -criticLoss,
        ms: Math.round(ms * 10) / 10,
        ...(fid !== undefined && i === batch.length - 1 ? { fid } : {}),
      };
      lines += JSON.stringify(last) + "\n";
      recentMs.push(ms);
    }
    await lossesFile.write(encoder.encode(lines));
    if (recentMs.length > 50) recentMs.splice(0, recentMs.length - 50);
    const sorted = [...recentMs].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    options.onProgress?.({
      record: last!,
      total: config.iterations,
      msPerIteration: median,
      etaMs: median * (config.iterations - last!.iteration),
    });
  };

  const checkpoint = async () => {
    await flush();
    const criticVariables = trainableVariables(wgan.critic);
    const generatorVariables = trainableVariables(wgan.generator);
    if (!(await allFinite([...criticVariables, ...generatorVariables]))) {
      throw new NonFiniteError(
        `A weight became non-finite by iteration ${wgan.iteration}; the last good checkpoint is kept`,
      );
    }
    const path = await writeCheckpoint(`${out}/checkpoints`, {
      state: {
        iteration: wgan.iteration,
        config,
        noiseRng: wgan.noiseRng.state,
        data: stream.state,
        criticSteps: wgan.criticOptimizer.steps,
        generatorSteps: wgan.generatorOptimizer.steps,
        elapsedMs: elapsedBefore + runMs,
      },
      generator: wgan.generator,
      critic: wgan.critic,
      criticMeanSquares: (await wgan.criticOptimizer.getState()).meanSquares,
      generatorMeanSquares: (await wgan.generatorOptimizer.getState())
        .meanSquares,
    }, config.keep);
    await saveLayersModel(wgan.generator, `${out}/generator`);
    await saveLayersModel(wgan.critic, `${out}/critic`);
    await options.afterCheckpoint?.(out);
    options.onEvent?.({ kind: "checkpoint", iteration: wgan.iteration, path });
  };

  let stopped = false;
  try {
    while (wgan.iteration < config.iterations) {
      // On the CPU backends every await below can resolve without a turn of
      // the event loop, so a stop signal's listener would wait for the next
      // sample grid: give it one turn per iteration.
      await new Promise((resolve) => setTimeout(resolve, 0));
      if (options.signal?.aborted) {
        stopped = true;
        break;
      }
      const losses = wgan.trainIteration(() => stream.next());
      const iteration = wgan.iteration;
      pending.push({ iteration, losses });
      const isLast = iteration === config.iterations;
      const due = (every: number) => every > 0 && iteration % every === 0;
      let fid: number | undefined;
      if (options.evaluate && due(config.evalEvery)) {
        const started = performance.now();
        fid = await options.evaluate(wgan.generator);
        // Evaluation time is not training time: keep it out of ms per iteration.
        lastReadBack += performance.now() - started;
      }
      if (
        fid !== undefined || isLast || due(config.sampleEvery) ||
        due(config.checkpointEvery) || iteration === startIteration + 1 ||
        performance.now() - lastReadBack >= readBackMs
      ) {
        await flush(fid);
      }
      if (due(config.sampleEvery) || isLast) {
        const path = samplePath(out, iteration);
        await writeSampleGrid(wgan.generator, fixedNoise, size, path);
        options.onEvent?.({ kind: "sample", iteration, path });
      }
      if (due(config.checkpointEvery) || isLast) await checkpoint();
    }
    if (stopped && wgan.iteration > startIteration) {
      await checkpoint();
      options.onEvent?.({ kind: "stopped", iteration: wgan.iteration });
    }
  } finally {
    tf.dispose(pending.flatMap(({ losses }) => [
      losses.criticLoss,
      losses.generatorLoss,
    ]));
    lossesFile.close();
    fixedNoise.dispose();
    wgan.dispose();
  }
  return {
    iteration: wgan.iteration,
    stopped,
    last,
    elapsedMs: elapsedBefore + runMs,
  };
}
