/**
 * Serves a trained generator as PNG images over HTTP.
 *
 *   deno task serve                                  # the committed default model
 *   deno task serve --model runs/a/generator --port 8080 --backend cpu
 *   curl localhost:8000/sample > a.png
 *
 * Flags: --model DIR (default fixtures/generator), --port (8000), --host
 * (default 0.0.0.0), --backend blas|wasm|webgpu|cpu|auto (default auto, as
 * training chooses: webgpu on a hardware GPU, else blas, wasm, webgpu on a
 * software adapter, cpu), --help. blas needs --allow-ffi.
 * Exit codes: 1 for a missing or corrupt model, 2 for bad flags.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { BackendError, initBackend } from "./lib/backend.ts";
import { type BackendName, BACKENDS } from "./lib/config.ts";
import { loadLayersModel, ModelLoadError } from "./lib/model_io.ts";
import { createApp } from "./lib/serving.ts";

const USAGE =
  `Usage: deno task serve [--model DIR] [--port N] [--host H] [--backend B]

  --model DIR   generator directory (model.json + weights.bin); default fixtures/generator
  --port N      port to listen on; default 8000 (0 picks a free port)
  --host H      address to listen on; default 0.0.0.0
  --backend B   blas, wasm, webgpu, cpu or auto; default auto (blas, else wasm,
                else webgpu on a software adapter, else cpu; webgpu on a GPU)
  --help        show this help`;

function fail(message: string, code: number): never {
  console.error(`serve: ${message}`);
  Deno.exit(code);
}

function parseFlags(): {
  model: string;
  port: number;
  host: string;
  backend: BackendName;
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
  if (!BACKENDS.includes(values.backend as BackendName)) {
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
    backend: values.backend as BackendName,
  };
}

/**
 * How the backend runs a dcgan28 generator fastest (lib/generator_inference.ts,
 * figures in docs/serving.md): the sub-pixel form on wasm, the transposed
 * form (batch norm folded in) on blas and cpu, model.predict on webgpu.
 */
function inferenceForm(backend: string): "subpixel" | "transposed" | undefined {
  if (backend === "wasm") return "subpixel";
  if (backend === "blas" || backend === "cpu") return "transposed";
  return undefined;
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
let backend: string;
try {
  const started = await initBackend(flags.backend);
  backend = started.name;
  console.log(`serve: ${started.message}`);
} catch (e) {
  // BackendError, or a backend's own start-up error: one line either way.
  fail(
    `backend ${flags.backend} could not start: ${(e as Error).message}${
      e instanceof BackendError ? "" : " (try --backend cpu)"
    }`,
    1,
  );
}
let generator, provenance;
try {
  generator = await loadLayersModel(flags.model);
  provenance = await readProvenance(flags.model);
} catch (e) {
  if (e instanceof ModelLoadError) fail(e.message, 1);
  throw e;
}
const app = createApp({
  generator,
  backend,
  model: flags.model,
  provenance,
  compile: inferenceForm(backend),
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
