/**
 * Load test for the PNG server: starts `serve.ts` on a free local port for each
 * backend, drives it with concurrent requests (bounded in count and time, to
 * 127.0.0.1 only), and reports requests/s, images/s and p50/p99 latency for
 * `/sample`, `/sample?n=64` (both fresh noise) and `/sample?seed=1` (answered
 * from the server's PNG cache after the first request).
 *
 *   deno task bench:serve                              # auto, 5 s per scenario
 *   deno task bench:serve --backends blas,wasm,cpu --duration 10 --concurrency 32
 *   deno task bench:serve --client deno                # fetch from Deno, not wrk
 *   deno task bench:serve --port 8000                  # an already running server
 *
 * The load comes from wrk (Debian: `apt-get install wrk`) where it is
 * installed, else from concurrent fetches in this process. The load generator
 * shares the machine's cores with the server: on a small machine the figures
 * are a lower bound for the server alone. The load average is printed with
 * each backend, since other work on the machine changes the figures.
 *
 * @module
 */
import { parseArgs } from "node:util";

const USAGE =
  `Usage: deno task bench:serve [--backends LIST] [--duration S] [--concurrency C]
                             [--max-requests N] [--model DIR] [--port P] [--client C]

  --backends LIST     comma-separated backends to start serve.ts with; default auto
  --duration S        seconds per scenario, 1 to 120; default 5
  --concurrency C     requests in flight, 1 to 256; default 16
  --max-requests N    cap per scenario, 1 to 1000000; default 100000
  --model DIR         model directory passed to serve.ts; default fixtures/generator
  --port P            bench a server already listening on 127.0.0.1:P instead
  --client C          wrk or deno; default wrk where installed, else deno
                      (wrk ignores --max-requests)`;

interface Scenario {
  name: string;
  path: string;
  images: number;
}

const SCENARIOS: Scenario[] = [
  { name: "/sample", path: "/sample", images: 1 },
  { name: "/sample?n=64", path: "/sample?n=64", images: 64 },
  { name: "/sample?seed=1", path: "/sample?seed=1", images: 1 },
];

/** What one scenario measured. */
interface Result {
  requests: number;
  errors: number;
  rps: number;
  imagesPerSecond: number;
  p50: number;
  p99: number;
}

function fail(message: string, code: number): never {
  console.error(`bench:serve: ${message}`);
  Deno.exit(code);
}

function intFlag(raw: string, name: string, min: number, max: number): number {
  const v = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(v >= min && v <= max)) {
    fail(
      `--${name}: expected an integer from ${min} to ${max}, got "${raw}"`,
      2,
    );
  }
  return v;
}

function parseFlags() {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      strict: true,
      options: {
        backends: { type: "string", default: "auto" },
        duration: { type: "string", default: "5" },
        concurrency: { type: "string", default: "16" },
        "max-requests": { type: "string", default: "100000" },
        model: { type: "string", default: "fixtures/generator" },
        port: { type: "string" },
        client: { type: "string" },
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
  const backends = values.backends.split(",").filter((b) => b !== "");
  for (const b of backends) {
    if (!["blas", "wasm", "webgpu", "cpu", "auto"].includes(b)) {
      fail(
        `--backends: expected blas, wasm, webgpu, cpu or auto, got "${b}"`,
        2,
      );
    }
  }
  const client = values.client ?? (hasWrk() ? "wrk" : "deno");
  if (client !== "wrk" && client !== "deno") {
    fail(`--client: expected wrk or deno, got "${client}"`, 2);
  }
  return {
    client,
    backends,
    duration: intFlag(values.duration, "duration", 1, 120),
    concurrency: intFlag(values.concurrency, "concurrency", 1, 256),
    maxRequests: intFlag(values["max-requests"], "max-requests", 1, 1_000_000),
    model: values.model,
    port: values.port === undefined
      ? undefined
      : intFlag(values.port, "port", 1, 65535),
  };
}

function hasWrk(): boolean {
  try {
    return new Deno.Command("wrk", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .outputSync().code <= 1;
  } catch {
    return false;
  }
}

/** Starts serve.ts on a free port; resolves to its URL and a stop function. */
async function startServer(backend: string, model: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-R", // the wasm backend reads its .wasm file from the npm cache
      "--allow-net=127.0.0.1",
      "--allow-ffi", // the blas backend calls OpenBLAS
      new URL("../serve.ts", import.meta.url).pathname,
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--backend",
      backend,
      "--model",
      model,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let output = "";
  let url: string | undefined;
  while (!url) {
    const { value, done } = await reader.read();
    if (done) {
      await child.status;
      fail(`serve.ts --backend ${backend} did not start`, 1);
    }
    output += value;
    url = output.match(/on (http:\/\/127\.0\.0\.1:\d+)\//)?.[1];
  }
  const drain = (async () => {
    while (!(await reader.read()).done) { /* keep the pipe flowing */ }
  })();
  return {
    url,
    stop: async () => {
      child.kill("SIGTERM");
      await drain;
      return (await child.status).code;
    },
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

/** A wrk latency figure ("812.00us", "3.10ms", "1.20s") in milliseconds. */
function wrkMs(text: string, label: string): number {
  const m = text.match(
    new RegExp(`^\\s*${label}\\s+([\\d.]+)(us|ms|s)\\s*$`, "m"),
  );
  if (!m) return NaN;
  return Number(m[1]) * { us: 1e-3, ms: 1, s: 1e3 }[m[2] as "us" | "ms" | "s"];
}

/** Drives the server with wrk (one thread, keep-alive connections). */
async function loadWrk(
  url: string,
  scenario: Scenario,
  options: { duration: number; concurrency: number },
): Promise<Result> {
  const out = await new Deno.Command("wrk", {
    args: [
      "-t1",
      `-c${options.concurrency}`,
      `-d${options.duration}s`,
      "--timeout",
      "30s",
      "--latency",
      url + scenario.path,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const requests = Number(text.match(/(\d+) requests in/)?.[1] ?? NaN);
  const seconds = Number(text.match(/requests in ([\d.]+)s/)?.[1] ?? NaN);
  if (out.code !== 0 || !(requests >= 0)) {
    fail(`wrk failed: ${new TextDecoder().decode(out.stderr).trim()}`, 1);
  }
  const socket = text.match(
    /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/,
  );
  const errors =
    Number(text.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0) +
    (socket ? socket.slice(1).reduce((n, v) => n + Number(v), 0) : 0);
  const ok = Math.max(0, requests - errors);
  return {
    requests,
    errors,
    rps: ok / seconds,
    imagesPerSecond: ok * scenario.images / seconds,
    p50: wrkMs(text, "50%"),
    p99: wrkMs(text, "99%"),
  };
}

/** Drives the server with concurrent fetches from this process. */
async function loadDeno(
  url: string,
  scenario: Scenario,
  options: { duration: number; concurrency: number; maxRequests: number },
): Promise<Result> {
  const latencies: number[] = [];
  let errors = 0, started = 0;
  const t0 = performance.now();
  const end = t0 + options.duration * 1000;
  const worker = async () => {
    while (performance.now() < end && started < options.maxRequests) {
      started++;
      const t = performance.now();
      try {
        const res = await fetch(url + scenario.path);
        const body = await res.arrayBuffer();
        if (res.status !== 200 || body.byteLength < 8) errors++;
      } catch {
        errors++;
      }
      latencies.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const ok = latencies.length - errors;
  return {
    requests: latencies.length,
    errors,
    rps: ok / seconds,
    imagesPerSecond: ok * scenario.images / seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
  };
}

function load(
  url: string,
  scenario: Scenario,
  options: { duration: number; concurrency: number; maxRequests: number },
): Promise<Result> {
  return flags.client === "wrk"
    ? loadWrk(url, scenario, options)
    : loadDeno(url, scenario, options);
}

function loadAverage(): string {
  try {
    return Deno.loadavg().map((v) => v.toFixed(2)).join(" ");
  } catch {
    return "unknown (needs --allow-sys=loadavg)";
  }
}

const flags = parseFlags();
const targets = flags.port === undefined
  ? flags.backends
  : [`server on port ${flags.port}`];
console.log(
  `bench:serve: ${flags.duration} s per scenario, concurrency ${flags.concurrency}, ` +
    (flags.client === "wrk"
      ? "load from wrk"
      : `load from Deno fetch, at most ${flags.maxRequests} requests`) +
    `, ${navigator.hardwareConcurrency} CPUs, load average ${loadAverage()}`,
);
console.log(
  "backend   scenario         requests  errors    req/s   images/s   p50 ms   p99 ms",
);
for (const target of targets) {
  const server = flags.port === undefined
    ? await startServer(target, flags.model)
    : { url: `http://127.0.0.1:${flags.port}`, stop: () => Promise.resolve(0) };
  const backend = flags.port === undefined
    ? target
    : (await (await fetch(`${server.url}/healthz`)).json()).backend;
  for (const scenario of SCENARIOS) {
    // Warm-up: compile kernels and fill caches before timing; waits for
    // every answer, so that no backlog is left on the server.
    await loadDeno(server.url, scenario, {
      duration: 1,
      concurrency: flags.concurrency,
      maxRequests: flags.concurrency,
    });
    const r = await load(server.url, scenario, flags);
    // wrk stops without reading its last answers: let the server finish
    // them (one more request queues behind them) before the next scenario.
    await (await fetch(`${server.url}/healthz`)).body?.cancel();
    await (await fetch(`${server.url}/sample`)).arrayBuffer();
    console.log(
      [
        backend.padEnd(9),
        scenario.name.padEnd(15),
        String(r.requests).padStart(9),
        String(r.errors).padStart(7),
        r.rps.toFixed(1).padStart(8),
        r.imagesPerSecond.toFixed(0).padStart(10),
        r.p50.toFixed(1).padStart(8),
        r.p99.toFixed(1).padStart(8),
      ].join(" "),
    );
  }
  console.log(`          (load average ${loadAverage()})`);
  const code = await server.stop();
  if (code !== 0) fail(`serve.ts exited with code ${code}`, 1);
}
