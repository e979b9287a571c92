/**
 * Saving and loading TF.js Layers models as the standard `model.json` +
 * `weights.bin` pair, loadable by `tf.loadLayersModel` in Deno, a browser or an
 * edge runtime. Both files are written atomically.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { writeFileAtomic } from "./atomic.ts";

/** Error raised when a model directory is missing or does not hold a valid model. */
export class ModelLoadError extends Error {
  override name = "ModelLoadError";
}

/** Joins model artifacts' weight data (one buffer or several) into one ArrayBuffer. */
function joinWeightData(data: tf.io.WeightData): ArrayBuffer {
  return Array.isArray(data)
    ? new tf.io.CompositeArrayBuffer(data).slice()
    : data;
}

/**
 * Saves `model` to `dir/model.json` and `dir/weights.bin` (weights first, then
 * the JSON, each atomically), creating `dir` if needed.
 *
 * @example
 * ```ts ignore
 * import { saveLayersModel } from "./model_io.ts";
 * await saveLayersModel(generator, "runs/a/generator");
 * ```
 */
export async function saveLayersModel(
  model: tfl.LayersModel,
  dir: string,
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    const weights = new Uint8Array(joinWeightData(artifacts.weightData!));
    await writeFileAtomic(`${dir}/weights.bin`, weights);
    const modelJson = {
      format: artifacts.format ?? "layers-model",
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy ?? null,
      modelTopology: artifacts.modelTopology,
      weightsManifest: [{
        paths: ["./weights.bin"],
        weights: artifacts.weightSpecs,
      }],
      ...(artifacts.trainingConfig
        ? { trainingConfig: artifacts.trainingConfig }
        : {}),
    };
    await writeFileAtomic(`${dir}/model.json`, JSON.stringify(modelJson));
    return {
      modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts),
    };
  }));
}

/**
 * Reads the model artifacts (topology, weight specs and weights) of a saved model.
 * Throws {@link ModelLoadError} with a clear message for a missing or corrupt model.
 */
export async function readModelArtifacts(
  dir: string,
): Promise<tf.io.ModelArtifacts> {
  let json: {
    modelTopology?: unknown;
    weightsManifest?: {
      paths: string[];
      weights: tf.io.WeightsManifestEntry[];
    }[];
  };
  try {
    json = JSON.parse(await Deno.readTextFile(`${dir}/model.json`));
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "file not found"
      : e instanceof SyntaxError
      ? "not valid JSON"
      : (e as Error).message;
    throw new ModelLoadError(
      `${dir}/model.json: expected a TF.js Layers model.json (${why})`,
    );
  }
  if (!json.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw new ModelLoadError(
      `${dir}/model.json: expected "modelTopology" and "weightsManifest" fields`,
    );
  }
  const weightSpecs = json.weightsManifest.flatMap((g) => g.weights);
  const buffers: Uint8Array[] = [];
  for (const group of json.weightsManifest) {
    for (const path of group.paths) {
      const name = path.replace(/^\.\//, "");
      if (name.includes("/") || name.includes("\\") || name.includes("..")) {
        throw new ModelLoadError(
          `${dir}/model.json: expected weight files beside model.json, got path ${path}`,
        );
      }
      try {
        buffers.push(await Deno.readFile(`${dir}/${name}`));
      } catch {
        throw new ModelLoadError(`${dir}/${name}: weight file not found`);
      }
    }
  }
  const total = buffers.reduce((n, b) => n + b.length, 0);
  const weightData = new Uint8Array(total);
  let offset = 0;
  for (const b of buffers) {
    weightData.set(b, offset);
    offset += b.length;
  }
  const expected = weightSpecs.reduce(
    (n, s) => n + 4 * s.shape.reduce((a, b) => a * b, 1),
    0,
  );
  if (expected !== total) {
    throw new ModelLoadError(
      `${dir}: expected ${expected} bytes of float32 weights, weight files hold ${total}`,
    );
  }
  return {
    modelTopology: json.modelTopology as tf.io.ModelArtifacts["modelTopology"],
    weightSpecs,
    weightData: weightData.buffer,
  };
}

/**
 * Loads a model saved by {@link saveLayersModel} (or any TF.js Layers model
 * directory) with `tf.loadLayersModel`.
 *
 * @example
 * ```ts ignore
 * import { loadLayersModel } from "./model_io.ts";
 * const generator = await loadLayersModel("fixtures/generator");
 * ```
 */
export async function loadLayersModel(dir: string): Promise<tfl.LayersModel> {
  const artifacts = await readModelArtifacts(dir);
  try {
    return await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
  } catch (e) {
    throw new ModelLoadError(
      `${dir}: expected a valid TF.js Layers model (${(e as Error).message})`,
    );
  }
}
