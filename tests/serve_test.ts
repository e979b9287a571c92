import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import "@tensorflow/tfjs-backend-cpu";
import { buildGenerator } from "../lib/models.ts";
import { PNG_SIGNATURE } from "../lib/png.ts";
import { createApp } from "../lib/serving.ts";
import { decodeGrayPng, pngSize } from "./helpers/png_decode.ts";

tf.enableProdMode();
await tf.setBackend("cpu");

const generator = buildGenerator({ arch: "dcgan28", latentDim: 100, seed: 1 });
const provenance = { command: "deno task train", iterations: 3 };
const app = createApp({
  generator,
  backend: "cpu",
  model: "test/generator",
  provenance,
});

async function get(path: string, init?: RequestInit) {
  const res = await app.request(path, init);
  return { res, bytes: new Uint8Array(await res.arrayBuffer()) };
}

/** Side length of a grid of `n` 28x28 images with a 2-pixel gutter. */
function gridSide(n: number, scale = 1): { width: number; height: number } {
  const cols = Math.ceil(Math.sqrt(n)), rows = Math.ceil(n / cols);
  return {
    width: (cols * 28 + (cols - 1) * 2) * scale,
    height: (rows * 28 + (rows - 1) * 2) * scale,
  };
}

Deno.test("GET /sample answers one 28x28 grayscale PNG from fresh noise", async () => {
  const { res, bytes } = await get("/sample");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "image/png");
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.match(res.headers.get("x-seed") ?? "", /^\d+$/);
  assert.deepEqual([...bytes.subarray(0, 8)], [...PNG_SIGNATURE]);
  assert.deepEqual(pngSize(bytes), { width: 28, height: 28 });
  const { pixels } = await decodeGrayPng(bytes);
  assert.ok(new Set(pixels).size > 10, "expected varied pixels");
  const again = await get("/sample");
  assert.notDeepEqual(again.bytes, bytes);
});

Deno.test("GET /sample?n=N answers a near-square grid for each n", async () => {
  for (const n of [1, 2, 3, 5, 10, 16, 64, 256]) {
    const { res, bytes } = await get(`/sample?n=${n}&seed=3`);
    assert.equal(res.status, 200, `n=${n}`);
    assert.deepEqual(pngSize(bytes), gridSide(n), `n=${n}`);
  }
  const { bytes } = await get("/sample?n=6&scale=3&seed=3");
  assert.deepEqual(pngSize(bytes), gridSide(6, 3));
});

Deno.test("GET /sample with a seed gives the same bytes each time, and others for another seed", async () => {
  const a = await get("/sample?n=64&seed=1");
  const b = await get("/sample?n=64&seed=1");
  const c = await get("/sample?n=64&seed=2");
  assert.deepEqual(a.bytes, b.bytes);
  assert.notDeepEqual(a.bytes, c.bytes);
  assert.equal(
    a.res.headers.get("cache-control"),
    "public, max-age=31536000, immutable",
  );
  assert.equal(a.res.headers.get("x-seed"), "1");
  // A new app over the same weights agrees too (no state behind the bytes).
  const other = createApp({ generator });
  const d = new Uint8Array(
    await (await other.request("/sample?n=64&seed=1")).arrayBuffer(),
  );
  assert.deepEqual(d, a.bytes);
});

Deno.test("GET /sample?n=N&seed=S uses that seed's N latent vectors: the grid starts with n=1's image", async () => {
  const one = await decodeGrayPng((await get("/sample?seed=9")).bytes);
  const grid = await decodeGrayPng((await get("/sample?n=4&seed=9")).bytes);
  for (let y = 0; y < 28; y++) {
    assert.deepEqual(
      grid.pixels.subarray(y * grid.width, y * grid.width + 28),
      one.pixels.subarray(y * 28, y * 28 + 28),
    );
  }
});

Deno.test("GET /sample?scale=K upscales by nearest neighbour", async () => {
  const one = await decodeGrayPng((await get("/sample?seed=5")).bytes);
  const big = await decodeGrayPng((await get("/sample?seed=5&scale=8")).bytes);
  assert.equal(big.width, 224);
  for (const [x, y] of [[0, 0], [13, 7], [27, 27]]) {
    assert.equal(
      big.pixels[(8 * y + 5) * 224 + 8 * x + 3],
      one.pixels[y * 28 + x],
    );
  }
});

Deno.test("GET /sample answers 304 to a matching If-None-Match", async () => {
  const first = await get("/sample?n=4&seed=11");
  const tag = first.res.headers.get("etag");
  assert.ok(tag, "expected an ETag");
  const second = await get("/sample?n=4&seed=11", {
    headers: { "If-None-Match": tag },
  });
  assert.equal(second.res.status, 304);
  assert.equal(second.bytes.length, 0);
  const other = await get("/sample?n=4&seed=12", {
    headers: { "If-None-Match": tag },
  });
  assert.equal(other.res.status, 200);
});

Deno.test("every invalid query gets 400 with JSON naming the parameter", async () => {
  const cases: [string, string][] = [
    ["/sample?n=0", "n"],
    ["/sample?n=257", "n"],
    ["/sample?n=abc", "n"],
    ["/sample?n=1.5", "n"],
    ["/sample?n=", "n"],
    ["/sample?n=1e2", "n"],
    ["/sample?n=-1", "n"],
    ["/sample?n=99999999999999999999", "n"],
    ["/sample?scale=0", "scale"],
    ["/sample?scale=9", "scale"],
    ["/sample?seed=-1", "seed"],
    ["/sample?seed=4294967296", "seed"],
    ["/sample?seed=0x10", "seed"],
    ["/sample?n=2&n=3", "n"],
    ["/sample?size=3", "size"],
    ["/interpolate?to=2", "from"],
    ["/interpolate?from=1", "to"],
    ["/interpolate?from=1&to=x", "to"],
    ["/interpolate?from=1&to=2&steps=1", "steps"],
    ["/interpolate?from=1&to=2&steps=33", "steps"],
    ["/interpolate?from=1&to=2&scale=9", "scale"],
    ["/interpolate?from=1&to=2&n=4", "n"],
  ];
  for (const [path, parameter] of cases) {
    const res = await app.request(path);
    assert.equal(res.status, 400, path);
    assert.match(res.headers.get("content-type") ?? "", /application\/json/);
    const body = await res.json();
    assert.equal(body.parameter, parameter, path);
    assert.match(body.error, new RegExp(`"${parameter}"`), path);
  }
  const body = await (await app.request("/sample?n=0")).json();
  assert.deepEqual(body.allowed, { min: 1, max: 256 });
  assert.match(body.error, /from 1 to 256/);
});

Deno.test("unknown paths get 404 and other methods 405, both as JSON", async () => {
  for (
    const path of [
      "/nope",
      "/model/../serve.ts",
      "/model/other.bin",
      "/vendor/x.js",
      "/sample/",
    ]
  ) {
    const res = await app.request(path);
    assert.equal(res.status, 404, path);
    await res.body?.cancel();
  }
  for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
    const res = await app.request("/sample", { method });
    assert.equal(res.status, 405, method);
    assert.equal(res.headers.get("allow"), "GET, HEAD");
    assert.match((await res.json()).error, /not allowed/);
  }
});

Deno.test("HEAD /sample answers the headers without a body", async () => {
  const { res, bytes } = await get("/sample?seed=1", { method: "HEAD" });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "image/png");
  assert.equal(bytes.length, 0);
});

Deno.test("GET /interpolate answers a strip of K images from seed to seed", async () => {
  const { res, bytes } = await get("/interpolate?from=9&to=10&steps=5");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "image/png");
  const strip = await decodeGrayPng(bytes);
  assert.deepEqual(
    { width: strip.width, height: strip.height },
    { width: 5 * 28 + 4 * 2, height: 28 },
  );
  // The ends are the two seeds' own first images.
  const from = await decodeGrayPng((await get("/sample?seed=9")).bytes);
  const to = await decodeGrayPng((await get("/sample?seed=10")).bytes);
  const last = 4 * 30;
  for (let y = 0; y < 28; y++) {
    const row = strip.pixels.subarray(y * strip.width, (y + 1) * strip.width);
    assert.deepEqual(
      row.subarray(0, 28),
      from.pixels.subarray(y * 28, y * 28 + 28),
    );
    assert.deepEqual(
      row.subarray(last, last + 28),
      to.pixels.subarray(y * 28, y * 28 + 28),
    );
  }
  const long = await get("/interpolate?from=1&to=2&steps=32&scale=2");
  assert.deepEqual(pngSize(long.bytes), {
    width: (32 * 28 + 31 * 2) * 2,
    height: 56,
  });
});

Deno.test("GET /healthz and /info describe the backend, model and provenance", async () => {
  const health = await (await app.request("/healthz")).json();
  assert.deepEqual(health, {
    status: "ok",
    backend: "cpu",
    model: "test/generator",
  });
  const body = await (await app.request("/info")).json();
  assert.equal(body.arch, "dcgan28");
  assert.equal(body.parameters, generator.countParams());
  assert.equal(body.latentDim, 100);
  assert.equal(body.imageSize, 28);
  assert.deepEqual(body.provenance, provenance);
});

Deno.test("GET /model/model.json and weights.bin load back into the same generator", async () => {
  const json = await (await app.request("/model/model.json")).json();
  assert.deepEqual(json.weightsManifest[0].paths, ["weights.bin"]);
  const res = await app.request("/model/weights.bin");
  assert.equal(res.headers.get("content-type"), "application/octet-stream");
  const weights = await res.arrayBuffer();
  const loaded = await tfl.loadLayersModel(tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest[0].weights,
    weightData: weights,
  }));
  const z = tf.randomNormal([3, 100], 0, 1, "float32", 4);
  const [a, b] = [generator, loaded].map((m) => m.predict(z) as tf.Tensor);
  assert.equal(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0], 0);
  tf.dispose([z, a, b]);
  loaded.dispose();
});

Deno.test("GET / serves the page and /vendor/ its TF.js scripts", async () => {
  const page = await app.request("/");
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type") ?? "", /text\/html/);
  const html = await page.text();
  assert.match(html, /\/model\/model\.json/);
  const scripts = [...html.matchAll(/<script src="([^"]+)">/g)].map((m) =>
    m[1]
  );
  assert.ok(scripts.length >= 3);
  for (const src of scripts) {
    const res = await app.request(src);
    assert.equal(res.status, 200, src);
    assert.match(res.headers.get("content-type") ?? "", /javascript/);
    assert.ok((await res.text()).length > 10_000, src);
  }
});

Deno.test("concurrent requests are batched into fewer generator calls, with the same bytes as alone", async () => {
  // No PNG cache here, so that every request reaches the generator.
  const uncached = createApp({ generator, cacheBytes: 0 });
  const batches = async () =>
    (await (await uncached.request("/info")).json()).batching.batches;
  const paths = Array.from(
    { length: 24 },
    (_, i) => `/sample?n=2&seed=${21 + i}`,
  );
  const bytes = async (p: string) =>
    new Uint8Array(await (await uncached.request(p)).arrayBuffer());
  const alone: Uint8Array[] = [];
  for (const p of paths) alone.push(await bytes(p));
  assert.equal(await batches(), paths.length);
  const results = await Promise.all(paths.map(bytes));
  const calls = await batches() - paths.length;
  assert.ok(calls < 6, `${calls} generator calls for 24 requests`);
  results.forEach((r, i) => assert.deepEqual(r, alone[i], paths[i]));
});

Deno.test("many requests keep tf.memory().numTensors flat", async () => {
  let round = 0;
  const burst = () => {
    round++; // new seeds each round: the PNG cache does not answer them
    return Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        get(
          i % 4 === 0
            ? `/interpolate?from=${i}&to=${round}&steps=3`
            : `/sample?n=${1 + (i % 5)}`,
        )),
    );
  };
  await burst(); // warm-up
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) await burst();
  assert.equal(tf.memory().numTensors, before);
  // A bad request leaves nothing behind either.
  await app.request("/sample?n=999");
  assert.equal(tf.memory().numTensors, before);
});
