/**
 * Trains the domain classifier used by `deno task eval` and writes it to
 * `fixtures/classifier/` (TF.js Layers format) with `PROVENANCE.json`.
 *
 *   deno task train-classifier [--epochs 2] [--batch-size 128] [--lr 0.001]
 *     [--seed 1] [--backend wasm|cpu|webgpu] [--data DIR] [--out DIR]
 *     [--max-steps N]   (stop early, for timing; nothing is written)
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { writeFileAtomic } from "./lib/atomic.ts";
import { initBackend } from "./lib/backend.ts";
import { buildClassifier } from "./lib/classifier.ts";
import { trainClassifier } from "./lib/classifier_training.ts";
import { loadFashionMnist, resolveDataDir } from "./lib/data.ts";
import { classifierAccuracy } from "./lib/evaluate.ts";
import { saveLayersModel } from "./lib/model_io.ts";
import { parseIntFlag } from "./lib/cli.ts";

const DEFAULTS = {
  epochs: 5, // 2 gave 88.5% test accuracy; 5 reach ≥ 90%
  batchSize: 128,
  lr: 1e-3, // Adam's usual default
  seed: 1,
  out: "fixtures/classifier",
};

/** Starts a backend by name; wasm is the fastest measured for this small CNN on a CPU. */
async function startBackend(name: string): Promise<string> {
  if (!["wasm", "cpu", "webgpu"].includes(name)) {
    fail(`expected --backend wasm, cpu or webgpu, got ${name}`, 2);
  }
  return (await initBackend(name as "wasm" | "cpu" | "webgpu")).name;
}

function fail(message: string, code = 1): never {
  console.error(`train-classifier: ${message}`);
  Deno.exit(code);
}

function positiveInt(name: string, text: string): number {
  try {
    return parseIntFlag(name, text);
  } catch (e) {
    fail((e as Error).message, 2);
  }
}

const OPTIONS = {
  epochs: { type: "string", default: String(DEFAULTS.epochs) },
  "batch-size": { type: "string", default: String(DEFAULTS.batchSize) },
  lr: { type: "string", default: String(DEFAULTS.lr) },
  seed: { type: "string", default: String(DEFAULTS.seed) },
  backend: { type: "string", default: "wasm" },
  data: { type: "string" },
  out: { type: "string", default: DEFAULTS.out },
  "max-steps": { type: "string" },
} as const;

function parse() {
  try {
    return parseArgs({ args: Deno.args, options: OPTIONS, strict: true })
      .values;
  } catch (e) {
    fail((e as Error).message, 2);
  }
}
const values = parse();
const epochs = positiveInt("epochs", values.epochs);
const batchSize = positiveInt("batch-size", values["batch-size"]);
const seed = positiveInt("seed", values.seed);
const learningRate = Number(values.lr);
if (!(learningRate > 0)) {
  fail(`expected --lr to be a positive number, got ${values.lr}`, 2);
}
const maxSteps = values["max-steps"] === undefined
  ? undefined
  : positiveInt("max-steps", values["max-steps"]);

try {
  const backend = await startBackend(values.backend);
  const source = await resolveDataDir({
    data: values.data,
    env: Deno.env.toObject(),
  });
  const train = await loadFashionMnist(source.dir, "train", { labels: true });
  const test = await loadFashionMnist(source.dir, "t10k", { labels: true });
  console.log(
    `data ${source.dir} (${source.origin}): ${train.count} training, ${test.count} test images; backend ${backend}`,
  );
  const classifier = buildClassifier({ seed });
  const t0 = performance.now();
  let last = t0;
  let lastStep = 0;
  const result = await trainClassifier(
    classifier,
    { images: train.images, labels: train.labels! },
    {
      epochs,
      batchSize,
      learningRate,
      seed,
      maxSteps,
      onLog: ({ epoch, step, loss }) => {
        const now = performance.now();
        console.log(
          `epoch ${epoch} step ${step}: loss ${loss.toFixed(4)}, ${
            ((now - last) / (step - lastStep)).toFixed(0)
          } ms/step`,
        );
        lastStep = step;
        last = now;
      },
    },
  );
  const trainSeconds = (performance.now() - t0) / 1000;
  const accuracy = await classifierAccuracy(
    classifier,
    test.images,
    test.labels!,
  );
  console.log(
    `${result.steps} steps in ${trainSeconds.toFixed(1)} s; test accuracy ${
      (100 * accuracy).toFixed(2)
    }% on ${test.count} images`,
  );
  if (maxSteps !== undefined) {
    console.log("--max-steps given: nothing written");
  } else {
    await saveLayersModel(classifier, values.out);
    const provenance = {
      // The output folder is where the files went, not part of the recipe.
      command: `deno task train-classifier ${
        Deno.args.join(" ").replace(/--out(=|\s+)\S+/, "")
      }`.trim().replace(/\s+/g, " "),
      data: {
        dir: source.dir,
        origin: source.origin,
        train: train.count,
        test: test.count,
      },
      backend,
      epochs,
      batchSize,
      learningRate,
      seed,
      steps: result.steps,
      finalLoss: result.loss,
      testAccuracy: accuracy,
      wallSeconds: Math.round(trainSeconds),
      date: new Date().toISOString(),
      tfjs: tf.version_core,
      deno: Deno.version.deno,
    };
    await writeFileAtomic(
      `${values.out}/PROVENANCE.json`,
      JSON.stringify(provenance, null, 2) + "\n",
    );
    console.log(`wrote ${values.out}/model.json, weights.bin, PROVENANCE.json`);
  }
  classifier.dispose();
} catch (e) {
  fail((e as Error).message);
}
