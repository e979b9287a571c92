/**
 * Choosing and starting a TF.js backend. Only entry points call this; the rest
 * of `lib/` runs on whatever backend is active.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-webgpu";
import type { BackendName } from "./config.ts";
import { initWasmBackend } from "./wasm_backend.ts";
import { initBlasBackend } from "./blas_backend.ts";
import {
  registerFastWebGpuKernels,
  unregisterFastWebGpuKernels,
} from "./kernels/register_webgpu.ts";
import { fusedRmsPropUpdate } from "./kernels/webgpu_rmsprop.ts";
import type { FusedRmsPropUpdate } from "./rmsprop.ts";

/** What was started, for the run to report. */
export interface BackendInfo {
  /** The backend in use. */
  name: Started;
  /** What was asked for. */
  requested: BackendName;
  /** The WebGPU adapter's description, when there is one. */
  adapter?: string;
  /** True when the WebGPU adapter is a software one (e.g. llvmpipe). */
  softwareAdapter?: boolean;
  /** One line saying what was chosen and why. */
  message: string;
  /** The backend's fused RMSProp(+clip) update, where it has one. */
  fusedUpdate?: FusedRmsPropUpdate;
}

type Started = "webgpu" | "cpu" | "wasm" | "blas";

/** Error for a backend that cannot run here. */
export class BackendError extends Error {
  override name = "BackendError";
}

/** Facts about the WebGPU adapter, or undefined where there is none. */
export async function probeWebGpu(): Promise<
  { description: string; isFallbackAdapter: boolean } | undefined
> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) return undefined;
  try {
    const adapter = await gpu.requestAdapter();
    if (!adapter) return undefined;
    const info = adapter.info as GPUAdapterInfo & {
      isFallbackAdapter?: boolean;
    };
    return {
      description: info.description || info.vendor || "unknown adapter",
      isFallbackAdapter: info.isFallbackAdapter === true,
    };
  } catch {
    return undefined;
  }
}

/** Options of {@link initBackend}. */
export interface BackendOptions {
  /** Use TF.js's stock WebGPU kernels instead of this project's (for comparison). */
  stockWebGpuKernels?: boolean;
  /** WebGPU tile shapes: for a software adapter or a hardware GPU (default: detected). */
  webgpuTiles?: "software" | "hardware";
  /** Threads for the wasm backend (default 1). */
  wasmThreads?: number;
}

/** Starts a backend; returns a note on what was loaded, if any. */
async function start(
  name: Started,
  options: BackendOptions,
): Promise<string | undefined> {
  let note: string | undefined;
  if (name === "wasm") {
    const info = await initWasmBackend({ threads: options.wasmThreads });
    note = `${info.threads} thread${info.threads > 1 ? "s" : ""}${
      info.simd ? ", SIMD" : ""
    }`;
  } else if (name === "blas") {
    try {
      const info = await initBlasBackend();
      note = `OpenBLAS ${info.path}, ${info.threads} threads`;
    } catch (e) {
      throw new BackendError((e as Error).message);
    }
  } else {
    if (name === "webgpu") {
      if (options.stockWebGpuKernels) {
        unregisterFastWebGpuKernels();
        note = "stock TF.js kernels";
      } else {
        registerFastWebGpuKernels({
          fallbackAdapter: options.webgpuTiles === undefined
            ? undefined
            : options.webgpuTiles === "software",
        });
      }
    }
    if (!(await tf.setBackend(name))) {
      throw new BackendError(`Backend ${name} failed to initialise`);
    }
  }
  await tf.ready();
  return note;
}

async function chooseBackend(
  requested: BackendName,
  options: BackendOptions = {},
): Promise<BackendInfo> {
  tf.enableProdMode();
  const gpu = requested === "webgpu" || requested === "auto"
    ? await probeWebGpu()
    : undefined;
  if (requested === "webgpu") {
    if (!gpu) {
      throw new BackendError(
        "No WebGPU adapter found: use --backend cpu, or --backend auto to pick the fastest available",
      );
    }
    await start("webgpu", options);
    return {
      name: "webgpu",
      requested,
      adapter: gpu.description,
      softwareAdapter: gpu.isFallbackAdapter,
      message: gpu.isFallbackAdapter
        ? `backend webgpu on a software adapter (${gpu.description}): no GPU found, this runs on the CPU, several times slower than --backend auto (the fastest CPU path here)`
        : `backend webgpu on ${gpu.description}`,
    };
  }
  if (requested === "auto") {
    if (gpu && !gpu.isFallbackAdapter) {
      await start("webgpu", options);
      return {
        name: "webgpu",
        requested,
        adapter: gpu.description,
        softwareAdapter: false,
        message:
          `backend auto: chose webgpu, a hardware adapter (${gpu.description})`,
      };
    }
    // Measured on a 2-core machine without a GPU (README, Speed): blas is
    // fastest, then wasm, then webgpu on a software adapter; cpu is last.
    const order: Started[] = [
      "blas",
      "wasm",
      "webgpu",
      "cpu",
    ];
    const skipped: string[] = [];
    for (const name of order) {
      if (name === "webgpu" && !gpu) continue;
      let note: string | undefined;
      try {
        note = await start(name, options);
      } catch (e) {
        skipped.push(`${name}: ${(e as Error).message}`);
        continue;
      }
      const why = gpu
        ? `the WebGPU adapter is a software one (${gpu.description}), and ${name} is the fastest measured path on a CPU`
        : `there is no WebGPU adapter, and ${name} is the fastest available path`;
      return {
        name,
        requested,
        adapter: gpu?.description,
        softwareAdapter: gpu?.isFallbackAdapter,
        message: `backend auto: chose ${name}${
          note ? ` (${note})` : ""
        }: ${why}${skipped.length ? ` (skipped ${skipped.join("; ")})` : ""}`,
      };
    }
    throw new BackendError("No backend could be started");
  }
  const note = await start(requested, options);
  return {
    name: requested,
    requested,
    message: `backend ${requested}${note ? ` (${note})` : ""}`,
  };
}

/**
 * Starts the requested backend. `webgpu` without an adapter is a
 * {@link BackendError}; `auto` picks the fastest that works here: WebGPU on a
 * hardware adapter, otherwise the fastest CPU path.
 *
 * @example
 * ```ts ignore
 * import { initBackend } from "./backend.ts";
 * const info = await initBackend("cpu");
 * console.log(info.message);
 * ```
 */
export async function initBackend(
  requested: BackendName,
  options: BackendOptions = {},
): Promise<BackendInfo> {
  const info = await chooseBackend(requested, options);
  if (info.name === "webgpu" && !options.stockWebGpuKernels) {
    info.fusedUpdate = fusedRmsPropUpdate;
  }
  return info;
}
