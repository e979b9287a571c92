import assert from "node:assert/strict";
import { pngSize } from "./helpers/png_decode.ts";

const SERVE = new URL("../serve.ts", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;

/** Runs serve.ts to completion with `args` and returns its exit code and output. */
async function runServe(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-R=.", "--allow-net", SERVE, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

Deno.test("serve.ts serves /sample on a free port and exits cleanly on SIGTERM", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-R=.",
      "--allow-net",
      SERVE,
      "--port",
      "0",
      "--host",
      "127.0.0.1",
      "--backend",
      "cpu",
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let output = "";
  try {
    // Wait for the "serving … on http://127.0.0.1:PORT/" line (model load takes a few seconds).
    let url: string | undefined;
    const deadline = Date.now() + 60_000;
    while (!url && Date.now() < deadline) {
      const { value, done } = await lines.read();
      if (done) break;
      output += value;
      url = output.match(/on (http:\/\/127\.0\.0\.1:\d+\/)/)?.[1];
    }
    assert.ok(url, `server did not start: ${output}`);
    const res = await fetch(`${url}sample`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "image/png");
    const png = new Uint8Array(await res.arrayBuffer());
    assert.deepEqual(pngSize(png), { width: 28, height: 28 });
    const grid = await fetch(`${url}sample?n=64&seed=1`);
    assert.deepEqual(
      pngSize(new Uint8Array(await grid.arrayBuffer())),
      { width: 8 * 28 + 7 * 2, height: 8 * 28 + 7 * 2 },
    );
    const health = await (await fetch(`${url}healthz`)).json();
    assert.equal(health.status, "ok");
    assert.equal(health.backend, "cpu");
  } finally {
    child.kill("SIGTERM");
  }
  const status = await child.status;
  for (;;) {
    const { value, done } = await lines.read();
    if (done) break;
    output += value;
  }
  assert.equal(status.code, 0, `exit code ${status.code}: ${await stderr}`);
  assert.match(output, /stopped/);
  assert.equal(await stderr, "");
});

Deno.test("serve.ts exits 1 with one line for a missing or corrupt model directory", async () => {
  const missing = await runServe([
    "--model",
    "no/such/dir",
    "--backend",
    "cpu",
  ]);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr.trim().split("\n").length, 1, missing.stderr);
  assert.match(
    missing.stderr,
    /no\/such\/dir\/model\.json: expected a TF\.js Layers model\.json/,
  );

  const dir = await Deno.makeTempDir({ dir: ROOT, prefix: ".serve_e2e_" });
  try {
    await Deno.writeTextFile(`${dir}/model.json`, "{ not json");
    const corrupt = await runServe(["--model", dir, "--backend", "cpu"]);
    assert.equal(corrupt.code, 1);
    assert.equal(corrupt.stderr.trim().split("\n").length, 1, corrupt.stderr);
    assert.match(corrupt.stderr, /not valid JSON/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve.ts exits 2 with one line for bad flags, 0 for --help", async () => {
  for (
    const args of [
      ["--bogus"],
      ["--port", "70000"],
      ["--port", "abc"],
      ["--backend", "tpu"],
      ["extra"],
    ]
  ) {
    const r = await runServe(args);
    assert.equal(r.code, 2, `${args}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /^serve: /);
  }
  const help = await runServe(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--model DIR/);
});
