/**
 * Trains a Wasserstein GAN (Arjovsky, Chintala and Bottou 2017, Algorithm 1)
 * on Fashion-MNIST.
 *
 *   deno task train --iterations 1000 --out runs/a
 *   deno task train --resume --out runs/a --iterations 2000
 *   deno task train --help
 *
 * @module
 */
import { parseArgs } from "node:util";
import { initBackend } from "./lib/backend.ts";
import {
  BACKENDS,
  ConfigError,
  DEFAULT_CONFIG,
  resolveConfig,
  type TrainConfig,
} from "./lib/config.ts";
import { loadFashionMnist, resolveDataDir } from "./lib/data.ts";
import { ARCHITECTURES } from "./lib/models.ts";
import { runTraining } from "./lib/training.ts";
import { parseIntFlag, UsageError } from "./lib/cli.ts";
import { writeLossPlot } from "./lib/plot.ts";
import {
  evaluateGenerator,
  loadClassifier,
  referenceStatistics,
} from "./lib/evaluate.ts";
import type { LayersModel } from "@tensorflow/tfjs-layers";

/** Images drawn for the FID recorded during training (`--eval-every`). */
const EVAL_COUNT_DURING_TRAINING = 1000;

const HELP = `Train a WGAN (weight clipping, RMSProp) on Fashion-MNIST.

Usage: deno task train [flags]

Algorithm 1 (defaults are the paper's):
  --iterations N        generator iterations to run (default ${DEFAULT_CONFIG.iterations})
  --batch M             batch size m (default ${DEFAULT_CONFIG.batch})
  --lr A                RMSProp learning rate α (default ${DEFAULT_CONFIG.lr})
  --clip C              clip every critic weight to [-C, C] after each critic update (default ${DEFAULT_CONFIG.clip})
  --n-critic K          critic updates per generator update (default ${DEFAULT_CONFIG.nCritic})
  --latent-dim D        size of z (default ${DEFAULT_CONFIG.latentDim})
  --critic-warmup       the reference code's schedule: 100 critic updates for the first 25
                        and every 500th generator iteration (default off)
Model and run:
  --arch NAME           ${
  ARCHITECTURES.join(" | ")
} (default ${DEFAULT_CONFIG.arch})
  --backend NAME        ${
  BACKENDS.join(" | ")
} (default ${DEFAULT_CONFIG.backend}); auto picks the fastest here
  --seed S              seed for weights, data order and noise (default ${DEFAULT_CONFIG.seed})
  --data DIR            folder with train-images-idx3-ubyte.gz (default: $FASHION_MNIST_DIR,
                        ~/.cache/fashion-mnist, /usr/share/datasets/fashion-mnist, then the
                        embedded 5,000-image subset)
  --out DIR             output folder (default runs/latest)
  --sample-every K      sample grid from fixed noise every K iterations (default ${DEFAULT_CONFIG.sampleEvery})
  --checkpoint-every K  checkpoint every K iterations (default ${DEFAULT_CONFIG.checkpointEvery})
  --keep K              keep the last K checkpoints (default ${DEFAULT_CONFIG.keep})
  --eval-every K        record the FID (1,000 images) every K iterations (default off)
  --resume              continue the run in --out from its last checkpoint
  --help                show this help
`;

/** Flag name → config key, and how to parse its value. */
const FLAGS = {
  iterations: ["iterations", "int"],
  batch: ["batch", "int"],
  lr: ["lr", "number"],
  clip: ["clip", "number"],
  "n-critic": ["nCritic", "int"],
  "latent-dim": ["latentDim", "int"],
  arch: ["arch", "string"],
  backend: ["backend", "string"],
  seed: ["seed", "int"],
  "sample-every": ["sampleEvery", "int"],
  "checkpoint-every": ["checkpointEvery", "int"],
  keep: ["keep", "int"],
  "eval-every": ["evalEvery", "int"],
} as const;

/** Flags that define the run's mathematics: on resume they must match the checkpoint. */
const FIXED_ON_RESUME: (keyof TrainConfig)[] = [
  "batch",
  "lr",
  "clip",
  "nCritic",
  "latentDim",
  "arch",
  "seed",
  "criticWarmup",
];

function parseValue(flag: string, raw: string, kind: string): unknown {
  if (kind === "string") return raw;
  if (kind === "int") return parseIntFlag(flag, raw, 0);
  const value = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(value)) {
    throw new UsageError(`--${flag}: expected a number, got "${raw}"`);
  }
  return value;
}

function parseFlags(args: string[]) {
  const options: Record<string, { type: "string" | "boolean" }> = {
    data: { type: "string" },
    out: { type: "string" },
    resume: { type: "boolean" },
    "critic-warmup": { type: "boolean" },
    help: { type: "boolean" },
  };
  for (const flag of Object.keys(FLAGS)) options[flag] = { type: "string" };
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options,
      strict: true,
      allowPositionals: false,
    });
  } catch (e) {
    throw new UsageError((e as Error).message.split("\n")[0]);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const overrides: Record<string, unknown> = {};
  for (const [flag, [key, kind]] of Object.entries(FLAGS)) {
    const raw = values[flag];
    if (typeof raw === "string") overrides[key] = parseValue(flag, raw, kind);
  }
  if (values["critic-warmup"]) overrides.criticWarmup = true;
  return {
    overrides,
    help: values.help === true,
    resume: values.resume === true,
    data: values.data as string | undefined,
    out: (values.out as string | undefined) ?? "runs/latest",
  };
}

function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) {
    return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  }
  return `${Math.floor(s / 3600)}h${
    String(Math.floor((s % 3600) / 60)).padStart(2, "0")
  }m`;
}

async function main(): Promise<number> {
  let flags;
  let config: TrainConfig;
  try {
    flags = parseFlags(Deno.args);
    if (flags.help) {
      console.log(HELP);
      return 0;
    }
    if (flags.resume) {
      let saved: TrainConfig;
      try {
        saved = JSON.parse(await Deno.readTextFile(`${flags.out}/config.json`));
      } catch {
        throw new UsageError(
          `--resume: expected a previous run in ${flags.out} (config.json not found)`,
        );
      }
      config = resolveConfig(saved);
      for (const key of FIXED_ON_RESUME) {
        const given = flags.overrides[key];
        if (given !== undefined && given !== config[key]) {
          throw new UsageError(
            `--resume: ${key} is ${
              JSON.stringify(config[key])
            } in ${flags.out}/config.json, got ${
              JSON.stringify(given)
            }; flags that define the run cannot change on resume`,
          );
        }
      }
      config = resolveConfig(flags.overrides, config);
    } else {
      config = resolveConfig(flags.overrides);
    }
  } catch (e) {
    if (e instanceof UsageError || e instanceof ConfigError) {
      console.error(`error: ${e.message}`);
      console.error("Run with --help to see the flags.");
      return 2;
    }
    throw e;
  }

  const backend = await initBackend(config.backend);
  console.log(backend.message);
  if (backend.softwareAdapter && backend.name === "webgpu") {
    console.log(
      "note: compiled shaders are cached by Mesa (~/.cache/mesa_shader_cache, or $MESA_SHADER_CACHE_DIR): the first run compiles, later runs start faster",
    );
  }
  const source = await resolveDataDir({
    data: flags.data,
    env: Deno.env.toObject(),
  });
  const data = await loadFashionMnist(source.dir, "train");
  console.log(
    `data: ${data.count} images from ${source.dir} (${source.origin})`,
  );
  console.log(
    `${
      flags.resume ? "resuming" : "training"
    } ${config.arch}: ${config.iterations} generator iterations, batch ${config.batch}, nCritic ${config.nCritic}, lr ${config.lr}, clip ${config.clip} -> ${flags.out}`,
  );

  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) Deno.exit(130);
    console.log("\nstopping: writing a checkpoint (press again to quit now)");
    controller.abort();
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);

  const tty = Deno.stdout.isTerminal();
  const encoder = new TextEncoder();
  let evaluate: ((g: LayersModel) => Promise<number>) | undefined;
  if (config.evalEvery > 0) {
    // Classifier and test-set statistics are loaded once; each evaluation draws 1,000 images.
    const classifier = await loadClassifier();
    const test = await loadFashionMnist(
      (await resolveDataDir({ split: "t10k", env: Deno.env.toObject() })).dir,
      "t10k",
      { labels: false },
    );
    const reference = await referenceStatistics(classifier, test.images);
    evaluate = async (generator) =>
      (await evaluateGenerator(generator, {
        count: EVAL_COUNT_DURING_TRAINING,
        seed: 1,
        classifier,
        reference,
      })).fid;
  }
  const result = await runTraining(config, {
    out: flags.out,
    data,
    resume: flags.resume,
    signal: controller.signal,
    evaluate,
    fusedUpdate: backend.fusedUpdate,
    afterCheckpoint: (out) => writeLossPlot(out),
    onProgress: ({ record, total, msPerIteration, etaMs }) => {
      const line = `iter ${record.iteration}/${total}: W ${
        record.wassersteinEstimate.toExponential(3)
      }, G loss ${record.generatorLoss.toExponential(3)}, ${
        Math.round(record.ms)
      } ms/iter (median ${Math.round(msPerIteration)}), ETA ${
        formatDuration(etaMs)
      }${record.fid !== undefined ? `, FID ${record.fid.toFixed(2)}` : ""}`;
      if (tty) Deno.stdout.writeSync(encoder.encode(`\r\x1b[K${line}`));
      else console.log(line);
    },
    onEvent: (event) => {
      const prefix = tty ? "\r\x1b[K" : "";
      if (event.kind === "resumed") {
        console.log(
          `${prefix}resumed at iteration ${event.iteration} from ${event.checkpoint}`,
        );
      } else if (event.kind === "checkpoint" && !tty) {
        console.log(`checkpoint: ${event.path}`);
      }
    },
  });
  if (tty) console.log();
  Deno.removeSignalListener("SIGINT", onSignal);
  Deno.removeSignalListener("SIGTERM", onSignal);
  console.log(
    `${
      result.stopped ? "stopped" : "done"
    } at iteration ${result.iteration} in ${
      formatDuration(result.elapsedMs)
    }: generator in ${flags.out}/generator, losses in ${flags.out}/losses.jsonl`,
  );
  return 0;
}

try {
  Deno.exit(await main());
} catch (e) {
  // Every failure is one line: what went wrong and what was expected.
  console.error(`\nerror: ${e instanceof Error ? e.message : String(e)}`);
  Deno.exit(1);
}
