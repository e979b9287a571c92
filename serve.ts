/**
 * Serves a trained generator as PNG images over HTTP.
 *
 *   deno task serve                                  # the committed default model
 *   deno task serve --model runs/a/generator --port 8080 --backend cpu
 *   curl localhost:8000/sample > a.png
 *
 * Flags: --model DIR (default fixtures/generator), --port (8000), --host
 * (default 0.0.0.0), --backend webgpu|cpu|wasm|auto (default auto: wasm,
 * else cpu), --help.
 * Exit codes: 1 for a missing or corrupt model, 2 for bad flags.
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-webgpu";
import { loadLayersModel, ModelLoadError } from "./lib/model_io.ts";
import { createApp } from "./lib/serving.ts";

const USAGE =
  `Usage: deno task serve [--model DIR] [--port N] [--host H] [--backend B]

  --model DIR   generator directory (model.json + weights.bin); default fixtures/generator
  --port N      port to listen on; default 8000 (0 picks a free port)
  --host H      address to listen on; default 0.0.0.0
  --backend B   webgpu, cpu, wasm or auto; default auto
  --help        show this help`;

const BACKENDS = ["webgpu", "cpu", "wasm", "auto"] as const;
type Backend = typeof BACKENDS[number];

function fail(message: string, code: number): never {
  console.error(`serve: ${message}`);
  Deno.exit(code);
}

function parseFlags(): {
  model: string;
  port: number;
  host: string;
  backend: Backend;
} {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      strict: true,
      allowPositionals: false,
      options: {
        model: { type: "string", default: "fixtures/generator" },
        port: { type: "string", default: "8000" },
        host: { type: "string", default: "0.0.0.0" },
        backend: { type: "string", default: "auto" },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (e) {
    fail(`${(e as Error).message} (see --help)`, 2);
  }
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const port = /^\d{1,5}$/.test(values.port) ? Number(values.port) : NaN;
  if (!(port >= 0 && port <= 65535)) {
    fail(
      `--port: expected an integer from 0 to 65535, got "${values.port}"`,
      2,
    );
  }
  if (!BACKENDS.includes(values.backend as Backend)) {
    fail(
      `--backend: expected one of ${
        BACKENDS.join(", ")
      }, got "${values.backend}"`,
      2,
    );
  }
  if (values.host === "") fail("--host: expected an address", 2);
  return {
    model: values.model,
    port,
    host: values.host,
    backend: values.backend as Backend,
  };
}

async function trySetBackend(name: string): Promise<boolean> {
  if (name === "wasm") {
    const { setWasmPaths } = await import("@tensorflow/tfjs-backend-wasm");
    setWasmPaths(
      import.meta.resolve("@tensorflow/tfjs-backend-wasm").replace(
        /[^/]*$/,
        "",
      ),
    );
  }
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

async function startBackend(requested: Backend): Promise<string> {
  tf.enableProdMode();
  // auto prefers wasm: serving the dcgan28 generator through the compiled
  // (sub-pixel convolution) path was the fastest on a 2-core machine, ahead of
  // cpu and of webgpu on a software adapter, where each read-back costs
  // milliseconds (figures in docs/serving.md). cpu is the fallback.
  const order = requested === "auto" ? ["wasm", "cpu"] : [requested];
  for (const name of order) {
    if (await trySetBackend(name)) {
      await tf.ready();
      return name;
    }
  }
  fail(
    requested === "wasm"
      ? "backend wasm could not start (it reads its .wasm file from the npm cache: run with -R): try --backend cpu"
      : `backend ${requested} could not start here: try --backend cpu`,
    1,
  );
}

async function readProvenance(dir: string): Promise<unknown> {
  try {
    return JSON.parse(await Deno.readTextFile(`${dir}/PROVENANCE.json`));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw new ModelLoadError(
      `${dir}/PROVENANCE.json: expected a JSON provenance record (${
        (e as Error).message
      })`,
    );
  }
}

const flags = parseFlags();
const backend = await startBackend(flags.backend);
let generator, provenance;
try {
  generator = await loadLayersModel(flags.model);
  provenance = await readProvenance(flags.model);
} catch (e) {
  if (e instanceof ModelLoadError) fail(e.message, 1);
  throw e;
}
// The compiled path pays off on wasm; the cpu backend's plain convolutions are
// slower than its transposed ones, so cpu keeps model.predict.
const app = createApp({
  generator,
  backend,
  model: flags.model,
  provenance,
  compile: backend === "wasm",
});

const shutdown = new AbortController();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => shutdown.abort());
}
let server;
try {
  server = Deno.serve({
    hostname: flags.host,
    port: flags.port,
    signal: shutdown.signal,
    onListen: ({ hostname, port }) => {
      console.log(
        `serving ${flags.model} (backend ${backend}) on http://${hostname}:${port}/`,
      );
    },
  }, app.fetch);
} catch (e) {
  fail(
    `cannot listen on ${flags.host}:${flags.port} (${(e as Error).message})`,
    1,
  );
}
await server.finished;
generator.dispose();
console.log("serve: stopped");
