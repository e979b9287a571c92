/**
 * Opens the sample page in headless Chromium (Debian's `chromium` package)
 * through the DevTools protocol and checks what a person would see.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { buildGenerator } from "../lib/models.ts";
import { createApp } from "../lib/serving.ts";

const CHROMIUM = Deno.env.get("CHROMIUM") ?? "/usr/bin/chromium";

/** A minimal DevTools protocol client over one WebSocket. */
class DevTools {
  #ws: WebSocket;
  #next = 1;
  #pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (event) => {
      const msg = JSON.parse(event.data);
      const waiter = this.#pending.get(msg.id);
      if (!waiter) return;
      this.#pending.delete(msg.id);
      if (msg.error) waiter.reject(new Error(msg.error.message));
      else waiter.resolve(msg.result);
    };
  }

  static async connect(url: string): Promise<DevTools> {
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error(`Cannot connect to ${url}`));
    });
    return new DevTools(ws);
  }

  send(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<Record<string, unknown>> {
    const id = this.#next++;
    this.#ws.send(JSON.stringify({ id, method, params, sessionId }));
    return new Promise((resolve, reject) => {
      this.#pending.set(id, {
        resolve: resolve as (v: unknown) => void,
        reject,
      });
    });
  }

  async close(): Promise<void> {
    const closed = new Promise((r) => this.#ws.onclose = r);
    this.#ws.close();
    await closed;
  }
}

/** Starts Chromium with remote debugging; resolves to its DevTools URL. */
async function launchChromium(profile: string) {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: install it (apt-get install -y chromium) or set CHROMIUM`,
    );
  }
  const child = new Deno.Command(CHROMIUM, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--user-data-dir=${profile}`,
      "--remote-debugging-address=127.0.0.1",
      "--remote-debugging-port=0",
      "about:blank",
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let log = "";
  let url: string | undefined;
  const deadline = Date.now() + 30_000;
  while (!url && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    log += value;
    url = log.match(/DevTools listening on (ws:\/\/\S+)/)?.[1];
  }
  if (!url) {
    child.kill("SIGKILL");
    await child.status;
    throw new Error(`Chromium did not start: ${log.slice(-500)}`);
  }
  const drain = (async () => {
    while (!(await reader.read()).done) { /* keep stderr flowing */ }
  })();
  return { child, url, drain };
}

Deno.test("the page shows server images and images generated in the browser with TF.js", async () => {
  tf.enableProdMode();
  await tf.setBackend("cpu");
  const generator = buildGenerator({
    arch: "dcgan28",
    latentDim: 100,
    seed: 1,
  });
  const app = createApp({ generator, backend: "cpu" });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    app.fetch,
  );
  const profile = await Deno.makeTempDir({ prefix: "chromium_profile_" });
  const browser = await launchChromium(profile);
  const devtools = await DevTools.connect(browser.url);
  try {
    const origin = `http://127.0.0.1:${server.addr.port}`;
    const { targetId } = await devtools.send("Target.createTarget", {
      url: `${origin}/?seed=42`,
    });
    const { sessionId } = await devtools.send("Target.attachToTarget", {
      targetId,
      flatten: true,
    }) as { sessionId: string };
    const evaluate = async (expression: string) => {
      const r = await devtools.send("Runtime.evaluate", {
        expression,
        awaitPromise: true,
        returnByValue: true,
      }, sessionId) as {
        result: { value?: unknown };
        exceptionDetails?: { text: string };
      };
      if (r.exceptionDetails) throw new Error(r.exceptionDetails.text);
      return r.result.value;
    };

    // Wait until the browser has loaded the model and drawn its own grid.
    let state: unknown;
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      state = await evaluate("document.body?.dataset.browser ?? null").catch(
        () => null,
      );
      if (state === "done" || state === "failed") break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const backendText = await evaluate(
      "document.getElementById('browser-backend').textContent",
    );
    assert.equal(state, "done", `browser generation: ${backendText}`);
    assert.match(String(backendText), /^(webgpu|webgl|wasm|cpu)$/);

    const report = await evaluate(`(async () => {
      const grid = document.getElementById("grid");
      const strip = document.getElementById("strip");
      await Promise.all([grid, strip].map((img) => img.decode()));
      const canvas = document.getElementById("browser-grid");
      const mine = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
      // The server's grid for the same seed, drawn to compare pixel by pixel.
      const c2 = document.createElement("canvas");
      c2.width = grid.naturalWidth; c2.height = grid.naturalHeight;
      const ctx = c2.getContext("2d");
      ctx.drawImage(grid, 0, 0);
      const theirs = ctx.getImageData(0, 0, c2.width, c2.height).data;
      let maxDiff = 0;
      const levels = new Set();
      for (let i = 0; i < mine.length; i += 4) {
        maxDiff = Math.max(maxDiff, Math.abs(mine[i] - theirs[i]));
        levels.add(mine[i]);
      }
      return {
        grid: [grid.naturalWidth, grid.naturalHeight],
        strip: [strip.naturalWidth, strip.naturalHeight],
        canvas: [canvas.width, canvas.height],
        seed: canvas.dataset.seed,
        levels: levels.size,
        maxDiff,
      };
    })()`) as {
      grid: number[];
      strip: number[];
      canvas: number[];
      seed: string;
      levels: number;
      maxDiff: number;
    };
    const side = (4 * 28 + 3 * 2) * 3;
    assert.deepEqual(report.grid, [side, side]);
    assert.deepEqual(report.strip, [(8 * 28 + 7 * 2) * 3, 28 * 3]);
    assert.deepEqual(report.canvas, [side, side]);
    assert.equal(report.seed, "42");
    assert.ok(
      report.levels > 5,
      `browser grid has ${report.levels} gray levels`,
    );
    // Same seed, same weights: the browser's images match the server's to rounding.
    assert.ok(report.maxDiff <= 2, `max pixel difference ${report.maxDiff}`);
  } finally {
    await devtools.send("Browser.close").catch(() => {});
    await devtools.close();
    browser.child.kill("SIGKILL");
    await browser.child.status;
    await browser.drain;
    await server.shutdown();
    generator.dispose();
    await Deno.remove(profile, { recursive: true });
  }
});
