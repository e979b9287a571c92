/**
 * OpenBLAS's `cblas_sgemm` through Deno's FFI (`Deno.dlopen`).
 *
 * The library is searched for in `$OPENBLAS_LIB` (when the environment may
 * be read), then in the usual install paths of Debian/Ubuntu, Fedora, Arch
 * and Homebrew. Typed arrays are passed as FFI `buffer` parameters: OpenBLAS
 * reads and writes the tensors' own memory, with no copy.
 *
 * Needs `--allow-ffi` (and `--allow-env=OPENBLAS_LIB` to honour that
 * variable).
 *
 * @module
 */

/** Library paths tried, in order, after `$OPENBLAS_LIB`. */
export const OPENBLAS_PATHS: readonly string[] = [
  "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
  "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
  "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
  "/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
  "/usr/lib64/libopenblas.so.0",
  "/usr/lib64/libopenblasp.so.0",
  "/usr/lib/libopenblas.so.0",
  "/usr/lib/libopenblas.so",
  "/usr/local/lib/libopenblas.so.0",
  "/usr/local/lib/libopenblas.so",
  "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
  "/usr/local/opt/openblas/lib/libopenblas.dylib",
];

/** The one-line hint every "not available" error ends with. */
export const OPENBLAS_HINT =
  "apt-get install libopenblas0-pthread, or use --backend cpu/webgpu/wasm";

const SYMBOLS = {
  cblas_sgemm: {
    parameters: [
      "i32", // order
      "i32", // transA
      "i32", // transB
      "i32", // M
      "i32", // N
      "i32", // K
      "f32", // alpha
      "buffer", // A
      "i32", // lda
      "buffer", // B
      "i32", // ldb
      "f32", // beta
      "buffer", // C
      "i32", // ldc
    ],
    result: "void",
  },
  openblas_set_num_threads: { parameters: ["i32"], result: "void" },
  openblas_get_num_threads: { parameters: [], result: "i32" },
} as const;

type BlasLibrary = Deno.DynamicLibrary<typeof SYMBOLS>;

/** Whether OpenBLAS can be used here, and if not, why. */
export type BlasAvailability =
  | { ok: true; path: string }
  | { ok: false; reason: string };

let library: { lib: BlasLibrary; path: string } | undefined;

function envPath(): string | undefined {
  try {
    return Deno.env.get("OPENBLAS_LIB") || undefined;
  } catch {
    return undefined; // no env permission: use the standard paths only
  }
}

function open(): BlasAvailability {
  if (library) return { ok: true, path: library.path };
  if (typeof Deno?.dlopen !== "function") {
    return { ok: false, reason: `OpenBLAS needs Deno's FFI: ${OPENBLAS_HINT}` };
  }
  const fromEnv = envPath();
  // Only paths the FFI permission covers (all with a plain --allow-ffi).
  const candidates = (fromEnv ? [fromEnv, ...OPENBLAS_PATHS] : OPENBLAS_PATHS)
    .filter((path) =>
      Deno.permissions.querySync({ name: "ffi", path }).state === "granted"
    );
  if (candidates.length === 0) {
    return {
      ok: false,
      reason:
        "OpenBLAS needs the FFI permission: run with --allow-ffi, or use --backend cpu/webgpu/wasm",
    };
  }
  let lastError = "";
  for (const path of candidates) {
    try {
      const lib = Deno.dlopen(path, SYMBOLS);
      library = { lib, path };
      return { ok: true, path };
    } catch {
      if (path === fromEnv) lastError = ` ($OPENBLAS_LIB=${path} did not load)`;
    }
  }
  return {
    ok: false,
    reason: `OpenBLAS not found${lastError}: ${OPENBLAS_HINT}`,
  };
}

/**
 * Whether OpenBLAS can be loaded here: `{ ok: true, path }` with the library
 * found, or `{ ok: false, reason }` with a one-line reason. Loads the library
 * on success (once per process); never throws.
 *
 * @example
 * ```ts ignore
 * import { blasAvailable } from "./blas_ffi.ts";
 * const blas = blasAvailable();
 * console.log(blas.ok ? `OpenBLAS at ${blas.path}` : blas.reason);
 * ```
 */
export function blasAvailable(): BlasAvailability {
  return open();
}

function symbols(): BlasLibrary["symbols"] {
  if (!library) {
    const result = open();
    if (!result.ok) throw new Error(result.reason);
  }
  return library!.lib.symbols;
}

/**
 * Sets the number of threads OpenBLAS uses for each product.
 *
 * @example
 * ```ts ignore
 * import { setBlasThreads } from "./blas_ffi.ts";
 * setBlasThreads(2);
 * ```
 */
export function setBlasThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 1) {
    throw new Error(`Expected a positive integer thread count, got ${threads}`);
  }
  configuredThreads = threads;
  useThreads(threads);
}

/**
 * The number of threads OpenBLAS uses.
 *
 * @example
 * ```ts ignore
 * import { blasThreads } from "./blas_ffi.ts";
 * console.log(blasThreads());
 * ```
 */
export function blasThreads(): number {
  configuredThreads ||= symbols().openblas_get_num_threads();
  return configuredThreads;
}

/**
 * Products of fewer multiply-adds than this run on one thread. Waking a
 * second thread costs more than it saves on them, and far more on a busy
 * machine: a 16x64 weight gradient over 12,544 rows (12.8 M multiply-adds)
 * took 12.7 ms on two threads against 0.7 ms on one, with another process
 * on the other core. Every such product in a dcgan28 iteration (the first
 * convolution and its gradients, the dense layers) is below this; the
 * 411 M multiply-add products of the 64/128-channel layers are above.
 */
export const SINGLE_THREAD_MACS = 1 << 26;

// The thread count set by setBlasThreads (0: OpenBLAS's own, not read yet),
// and the one OpenBLAS is set to now.
let configuredThreads = 0;
let activeThreads = 0;

function useThreads(threads: number): void {
  if (threads === activeThreads) return;
  symbols().openblas_set_num_threads(threads);
  activeThreads = threads;
}

const ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112;

/** One operand of {@link sgemm}: a row-major matrix inside a typed array. */
export interface Operand {
  /** The storage. */
  data: Float32Array;
  /** Index of the matrix's first element in `data`. */
  offset?: number;
  /** Row stride (leading dimension) as stored, before any transpose. */
  ld: number;
}

/**
 * C = alpha · op(A) · op(B) + beta · C for row-major float32 matrices, where
 * op(A) is `[m, k]` and op(B) is `[k, n]` (stored transposed when `transA` /
 * `transB`). Runs OpenBLAS synchronously on the arrays' memory.
 *
 * @example
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import { sgemm } from "./blas_ffi.ts";
 * const c = new Float32Array(1);
 * sgemm(1, 1, 2, { data: new Float32Array([1, 2]), ld: 2 },
 *   { data: new Float32Array([3, 4]), ld: 1 }, { data: c, ld: 1 });
 * assert.ok(c[0] === 11);
 * ```
 */
export function sgemm(
  m: number,
  n: number,
  k: number,
  a: Operand,
  b: Operand,
  c: Operand,
  options: {
    transA?: boolean;
    transB?: boolean;
    alpha?: number;
    beta?: number;
  } = {},
): void {
  if (m === 0 || n === 0) return;
  const beta = options.beta ?? 0;
  const cOffset = c.offset ?? 0;
  if (k === 0) {
    // Nothing to multiply: C = beta · C.
    for (let i = 0; i < m; i++) {
      const row = cOffset + i * c.ld;
      for (let j = 0; j < n; j++) {
        c.data[row + j] = beta === 0 ? 0 : beta * c.data[row + j];
      }
    }
    return;
  }
  check("A", a, options.transA ? k : m, options.transA ? m : k);
  check("B", b, options.transB ? n : k, options.transB ? k : n);
  check("C", c, m, n);
  const threads = blasThreads(); // read before the first switch to one
  useThreads(m * n * k < SINGLE_THREAD_MACS ? 1 : threads);
  symbols().cblas_sgemm(
    ROW_MAJOR,
    options.transA ? TRANS : NO_TRANS,
    options.transB ? TRANS : NO_TRANS,
    m,
    n,
    k,
    options.alpha ?? 1,
    view(a),
    a.ld,
    view(b),
    b.ld,
    beta,
    view(c),
    c.ld,
  );
}

// OpenBLAS trusts its arguments: an operand that does not fit its array would
// read or write outside it.
function check(name: string, x: Operand, rows: number, cols: number): void {
  const offset = x.offset ?? 0;
  if (
    !(x.data instanceof Float32Array) || x.ld < cols || offset < 0 ||
    offset + (rows - 1) * x.ld + cols > x.data.length
  ) {
    throw new RangeError(
      `Expected sgemm operand ${name} to be a Float32Array holding ${rows}x${cols} with row stride ${x.ld} from ${offset}`,
    );
  }
}

function view(x: Operand): Float32Array {
  return x.offset ? x.data.subarray(x.offset) : x.data;
}
