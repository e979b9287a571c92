/**
 * Starts TensorFlow.js's WebAssembly backend (XNNPACK, SIMD) under Deno with
 * the kernels that training needs (see `kernels/register_wasm.ts`), optionally
 * with several threads.
 *
 * The `.wasm` binaries are loaded from the `@tensorflow/tfjs-backend-wasm`
 * package itself (resolved with `import.meta.resolve`, read as `file:` URLs),
 * so this works offline once the dependencies are cached (`deno install`).
 *
 * Threads: tfjs turns wasm threads off when it believes it runs under Node,
 * which it does under Deno, and its browser path hands the thread workers a
 * `blob:` URL that Deno cannot start. With `threads > 1` we instead start the
 * package's threaded build the way its Node path would: Emscripten's Node mode
 * on Deno's `node:worker_threads`, with the worker script written to a
 * temporary file (removed once the workers have loaded it) and the logical
 * core count that XNNPACK sizes its pool from (it uses half of it) reported
 * as twice the requested thread count while the module starts.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import * as tfwasm from "@tensorflow/tfjs-backend-wasm";
import { createRequire } from "node:module";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { registerWasmKernels } from "./kernels/register_wasm.ts";

/** Options for {@link initWasmBackend}. */
export interface WasmBackendOptions {
  /**
   * XNNPACK threads, 1 to 8 (1 = the stock single-threaded build). Default 1:
   * on a machine whose cores are busy with other work, XNNPACK's spinning
   * threads made iterations slower as often as faster (PyTorch's too).
   */
  threads?: number;
}

/** What {@link initWasmBackend} started. */
export interface WasmBackendInfo {
  /** Threads XNNPACK uses. */
  threads: number;
  /** Whether the SIMD build is in use. */
  simd: boolean;
}

const BACKEND = "wasm";
// tfjs's own priority for the wasm backend.
const PRIORITY = 2;
const THREADED = "tfjs-backend-wasm-threaded-simd";

// Folder of the package's `.wasm` binaries and of its Emscripten glue code.
function packageUrls(): { dist: URL; glue: URL } {
  const main = import.meta.resolve("@tensorflow/tfjs-backend-wasm");
  return { dist: new URL("./", main), glue: new URL("../wasm-out/", main) };
}

// Emscripten module factory of the threaded build (CommonJS).
type Factory = (config: Record<string, unknown>) => Promise<
  // deno-lint-ignore no-explicit-any
  any
>;

async function startThreaded(threads: number): Promise<tfwasm.BackendWasm> {
  const { dist, glue } = packageUrls();
  const require = createRequire(glue);
  const gluePath = fileURLToPath(new URL(`${THREADED}.js`, glue));
  const factory = require(gluePath) as Factory;
  const { wasmWorkerContents } = require(
    fileURLToPath(new URL(`${THREADED}.worker.js`, glue)),
  ) as { wasmWorkerContents: string };
  // The worker script as a file, with two fixes for Deno: its escaped
  // newlines restored (tfjs does the same for its blob), and its globals
  // defined one by one, since Deno's worker `location` cannot be assigned.
  const script = wasmWorkerContents.replace(/\n/g, "\\n").replace(
    "Object.assign(global,",
    "((t,s)=>{for(const k in s){try{t[k]=s[k]}catch{}}})(global,",
  );
  const dir = await Deno.makeTempDir({ prefix: "tfjs-wasm-" });
  const workerPath = `${dir}/${THREADED}.worker.cjs`;
  await Deno.writeTextFile(workerPath, script);

  const realCpus = os.cpus, realWorker = globalThis.Worker;
  // XNNPACK sizes its pool as (logical cores / 2), capped at 8, when the
  // module starts.
  // Only the length is read.
  os.cpus = () => Array.from({ length: 2 * threads }, () => ({}) as os.CpuInfo);
  let module;
  try {
    module = await factory({
      locateFile: (path: string) =>
        path.endsWith(".worker.js")
          ? workerPath
          : path.endsWith(".wasm")
          ? fileURLToPath(new URL(`${THREADED}.wasm`, dist))
          : path,
      mainScriptUrlOrBlob: gluePath,
    });
  } finally {
    os.cpus = realCpus;
    // Emscripten's Node mode replaces the global Worker with Node's.
    globalThis.Worker = realWorker;
    await Deno.remove(dir, { recursive: true });
  }
  module.tfjs = {
    init: module.cwrap("init", null, []),
    initWithThreadsCount: module.cwrap("init_with_threads_count", null, [
      "number",
    ]),
    getThreadsCount: module.cwrap("get_threads_count", "number", []),
    registerTensor: module.cwrap("register_tensor", null, [
      "number",
      "number",
      "number",
    ]),
    disposeData: module.cwrap("dispose_data", null, ["number"]),
    dispose: module.cwrap("dispose", null, []),
  };
  tfwasm.setThreadsCount(threads);
  const backend = new tfwasm.BackendWasm(module); // starts XNNPACK's pool
  // The pool's threads wait for work forever; like Node, Deno would then never
  // exit on its own. Let the process end when the main program does.
  for (
    const worker of [
      ...module.PThread.runningWorkers,
      ...module.PThread.unusedWorkers,
    ]
  ) {
    worker.unref();
  }
  return backend;
}

/**
 * Makes the wasm backend the active tfjs backend, with our training kernels
 * registered. Call once at start-up, before creating tensors; calling it again
 * just re-selects the backend (the thread count of the first call stays).
 * Needs read permission for the package's files; with `threads > 1` also
 * write permission for a temporary file. If the threaded build fails to
 * start, it falls back to one thread (the returned `threads` says which).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initWasmBackend } from "./wasm_backend.ts";
 * const { threads } = await initWasmBackend({ threads: 1 });
 * assert.ok(tf.getBackend() === "wasm" && threads === 1);
 * ```
 */
export async function initWasmBackend(
  options: WasmBackendOptions = {},
): Promise<WasmBackendInfo> {
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1 || threads > 8) {
    throw new Error(
      `Expected threads to be an integer in [1, 8], got ${threads}`,
    );
  }
  registerWasmKernels();
  if (tf.findBackend(BACKEND) === null) {
    const stock = tf.engine().registryFactory[BACKEND];
    tfwasm.setWasmPaths(packageUrls().dist.href);
    if (threads > 1) {
      tf.removeBackend(BACKEND);
      tf.registerBackend(BACKEND, () => startThreaded(threads), PRIORITY);
      if (!(await tf.setBackend(BACKEND)) && stock !== undefined) {
        // tfjs has printed why; carry on with one thread.
        tf.removeBackend(BACKEND);
        tf.registerBackend(BACKEND, stock.factory, stock.priority);
      }
    }
  }
  if (!(await tf.setBackend(BACKEND))) {
    throw new Error("Expected the wasm backend to start, but it failed");
  }
  return {
    threads: tfwasm.getThreadsCount(),
    simd: await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT") as boolean,
  };
}
