/**
 * Load test for the PNG server: starts `serve.ts` on a free local port for each
 * backend, drives it with concurrent fetches (bounded in count and time, to
 * 127.0.0.1 only), and reports requests/s, images/s and p50/p99 latency for
 * `/sample` and `/sample?n=64`.
 *
 *   deno task bench:serve                              # cpu, 5 s per scenario
 *   deno task bench:serve --backends cpu,webgpu --duration 10 --concurrency 32
 *   deno task bench:serve --port 8000                  # an already running server
 *
 * The load generator shares the machine's cores with the server: on a small
 * machine the figures are a lower bound for the server alone.
 *
 * @module
 */
import { parseArgs } from "node:util";

const USAGE =
  `Usage: deno task bench:serve [--backends LIST] [--duration S] [--concurrency C]
                             [--max-requests N] [--model DIR] [--port P]

  --backends LIST     comma-separated backends to start serve.ts with; default cpu
  --duration S        seconds per scenario, 1 to 120; default 5
  --concurrency C     requests in flight, 1 to 256; default 16
  --max-requests N    cap per scenario, 1 to 1000000; default 100000
  --model DIR         model directory passed to serve.ts; default fixtures/generator
  --port P            bench a server already listening on 127.0.0.1:P instead`;

interface Scenario {
  name: string;
  path: string;
  images: number;
}

const SCENARIOS: Scenario[] = [
  { name: "/sample", path: "/sample", images: 1 },
  { name: "/sample?n=64", path: "/sample?n=64", images: 64 },
];

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
        backends: { type: "string", default: "cpu" },
        duration: { type: "string", default: "5" },
        concurrency: { type: "string", default: "16" },
        "max-requests": { type: "string", default: "100000" },
        model: { type: "string", default: "fixtures/generator" },
        port: { type: "string" },
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
    if (!["cpu", "webgpu", "wasm", "auto"].includes(b)) {
      fail(`--backends: expected cpu, webgpu, wasm or auto, got "${b}"`, 2);
    }
  }
  return {
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

/** Starts serve.ts on a free port; resolves to its URL and a stop function. */
async function startServer(backend: string, model: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-R", // the wasm backend reads its .wasm file from the npm cache
      "--allow-net=127.0.0.1",
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

async function load(
  url: string,
  scenario: Scenario,
  options: { duration: number; concurrency: number; maxRequests: number },
) {
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

const flags = parseFlags();
const targets = flags.port === undefined
  ? flags.backends
  : [`server on port ${flags.port}`];
console.log(
  `bench:serve: ${flags.duration} s per scenario, concurrency ${flags.concurrency}, ` +
    `at most ${flags.maxRequests} requests, ${navigator.hardwareConcurrency} CPUs`,
);
console.log(
  "backend   scenario       requests  errors    req/s   images/s   p50 ms   p99 ms",
);
for (const target of targets) {
  const server = flags.port === undefined
    ? await startServer(target, flags.model)
    : { url: `http://127.0.0.1:${flags.port}`, stop: () => Promise.resolve(0) };
  const backend = flags.port === undefined
    ? target
    : (await (await fetch(`${server.url}/healthz`)).json()).backend;
  for (const scenario of SCENARIOS) {
    // Warm-up: compile kernels and fill caches before timing.
    await load(server.url, scenario, {
      duration: 1,
      concurrency: flags.concurrency,
      maxRequests: 4 * flags.concurrency,
    });
    const r = await load(server.url, scenario, flags);
    console.log(
      [
        backend.padEnd(9),
        scenario.name.padEnd(13),
        String(r.requests).padStart(9),
        String(r.errors).padStart(7),
        r.rps.toFixed(1).padStart(8),
        r.imagesPerSecond.toFixed(0).padStart(10),
        r.p50.toFixed(1).padStart(8),
        r.p99.toFixed(1).padStart(8),
      ].join(" "),
    );
  }
  const code = await server.stop();
  if (code !== 0) fail(`serve.ts exited with code ${code}`, 1);
}
