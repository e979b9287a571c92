/**
 * Checkpoints: one folder per checkpoint holding everything needed to resume
 * exactly (both models, both RMSProp states, the iteration, the noise and data
 * random states and data position, the configuration).
 *
 * A checkpoint is written into a temporary folder and renamed into place, so a
 * process killed at any instant leaves the previous checkpoints intact.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import type { TrainConfig } from "./config.ts";
import type { BatchStreamState } from "./data.ts";
import { readModelArtifacts, saveLayersModel } from "./model_io.ts";
import type { RngState } from "./random.ts";
import { writeFileAtomic } from "./atomic.ts";

/** The small part of a checkpoint, stored as `state.json`. */
export interface CheckpointState {
  /** Generator iterations completed. */
  iteration: number;
  /** The run's resolved configuration. */
  config: TrainConfig;
  /** Noise generator state. */
  noiseRng: RngState;
  /** Data stream position. */
  data: BatchStreamState;
  /** Updates applied by each optimizer. */
  criticSteps: number;
  generatorSteps: number;
  /** Wall time spent training so far, in ms. */
  elapsedMs: number;
}

/** A checkpoint read back from disk. */
export interface Checkpoint {
  state: CheckpointState;
  /** RMSProp accumulators, in the optimizers' variable order. */
  criticMeanSquares: Float32Array[];
  generatorMeanSquares: Float32Array[];
  /** Folder the checkpoint was read from. */
  dir: string;
}

/** Error for a missing or unreadable checkpoint. */
export class CheckpointError extends Error {
  override name = "CheckpointError";
}

const PREFIX = "iter_";

/** Folder name of the checkpoint after `iteration` generator iterations. */
export function checkpointName(iteration: number): string {
  return `${PREFIX}${String(iteration).padStart(6, "0")}`;
}

function packArrays(arrays: Float32Array[]): Uint8Array {
  const total = arrays.reduce((n, a) => n + a.length, 0);
  const out = new Float32Array(total);
  let offset = 0;
  for (const a of arrays) {
    out.set(a, offset);
    offset += a.length;
  }
  return new Uint8Array(out.buffer);
}

function unpackArrays(bytes: Uint8Array, sizes: number[]): Float32Array[] {
  const all = new Float32Array(
    bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
  );
  const out: Float32Array[] = [];
  let offset = 0;
  for (const n of sizes) {
    out.push(all.slice(offset, offset + n));
    offset += n;
  }
  return out;
}

/**
 * Writes a checkpoint to `checkpointsDir/iter_NNNNNN/` atomically (temporary
 * folder, then rename), then deletes all but the newest `keep` checkpoints.
 */
export async function writeCheckpoint(
  checkpointsDir: string,
  parts: {
    state: CheckpointState;
    generator: tfl.LayersModel;
    critic: tfl.LayersModel;
    criticMeanSquares: Float32Array[];
    generatorMeanSquares: Float32Array[];
  },
  keep: number,
): Promise<string> {
  await Deno.mkdir(checkpointsDir, { recursive: true });
  const name = checkpointName(parts.state.iteration);
  const tmp = `${checkpointsDir}/.tmp-${name}-${
    crypto.randomUUID().slice(0, 8)
  }`;
  await Deno.mkdir(tmp);
  await saveLayersModel(parts.generator, `${tmp}/generator`);
  await saveLayersModel(parts.critic, `${tmp}/critic`);
  await writeFileAtomic(
    `${tmp}/optimizer.bin`,
    packArrays([...parts.criticMeanSquares, ...parts.generatorMeanSquares]),
  );
  const sizes = {
    critic: parts.criticMeanSquares.map((a) => a.length),
    generator: parts.generatorMeanSquares.map((a) => a.length),
  };
  await writeFileAtomic(
    `${tmp}/state.json`,
    JSON.stringify({ ...parts.state, optimizerSizes: sizes }),
  );
  const final = `${checkpointsDir}/${name}`;
  await Deno.remove(final, { recursive: true }).catch(() => {});
  await Deno.rename(tmp, final);
  const all = await listCheckpoints(checkpointsDir);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) {
    await Deno.remove(`${checkpointsDir}/${old}`, { recursive: true });
  }
  return final;
}

/** Names of the complete checkpoints in `checkpointsDir`, oldest first. */
export async function listCheckpoints(
  checkpointsDir: string,
): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(checkpointsDir)) {
      if (entry.isDirectory && /^iter_\d{6,}$/.test(entry.name)) {
        names.push(entry.name);
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return names.sort();
}

/** Reads the newest checkpoint in `checkpointsDir`. */
export async function readLatestCheckpoint(
  checkpointsDir: string,
): Promise<Checkpoint> {
  const all = await listCheckpoints(checkpointsDir);
  if (all.length === 0) {
    throw new CheckpointError(
      `${checkpointsDir}: expected a checkpoint folder (iter_NNNNNN) to resume from, found none`,
    );
  }
  return await readCheckpoint(`${checkpointsDir}/${all[all.length - 1]}`);
}

/** Reads the checkpoint folder `dir` (`.../checkpoints/iter_NNNNNN`). */
export async function readCheckpoint(dir: string): Promise<Checkpoint> {
  try {
    const json = JSON.parse(await Deno.readTextFile(`${dir}/state.json`));
    const { optimizerSizes, ...state } = json;
    const bytes = await Deno.readFile(`${dir}/optimizer.bin`);
    const arrays = unpackArrays(bytes, [
      ...optimizerSizes.critic,
      ...optimizerSizes.generator,
    ]);
    return {
      state: state as CheckpointState,
      criticMeanSquares: arrays.slice(0, optimizerSizes.critic.length),
      generatorMeanSquares: arrays.slice(optimizerSizes.critic.length),
      dir,
    };
  } catch (e) {
    throw new CheckpointError(
      `${dir}: expected a complete checkpoint (${(e as Error).message})`,
    );
  }
}

/**
 * Loads the weights saved in `dir` (a Layers model folder) into `model`, which
 * must have the same architecture. Weights are matched by order.
 */
export async function loadWeightsInto(
  model: tfl.LayersModel,
  dir: string,
): Promise<void> {
  const artifacts = await readModelArtifacts(dir);
  const named = tf.io.decodeWeights(
    artifacts.weightData!,
    artifacts.weightSpecs!,
  );
  const values = artifacts.weightSpecs!.map((s) => named[s.name]);
  const expected = model.weights.map((w) => w.shape.join("x"));
  const got = values.map((v) => v.shape.join("x"));
  if (expected.join() !== got.join()) {
    tf.dispose(values);
    throw new CheckpointError(
      `${dir}: expected weights of shapes ${expected.join(", ")}, got ${
        got.join(", ")
      }`,
    );
  }
  model.setWeights(values);
  tf.dispose(values);
}
