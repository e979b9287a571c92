/**
 * The page served at `GET /`: a grid of server-generated samples, a "new
 * samples" button, a seed field, an interpolation strip, and the same grid
 * generated in the browser with TF.js from `/model/model.json` (edge
 * inference), with the backend the browser used.
 *
 * The TF.js browser bundles come from the pinned npm packages themselves
 * (imported as text, so serving them needs no network and no file access).
 *
 * @module
 */
import tfCore from "@tensorflow/tfjs-core/dist/tf-core.min.js" with {
  type: "text",
};
import tfBackendCpu from "@tensorflow/tfjs-backend-cpu/dist/tf-backend-cpu.min.js" with {
  type: "text",
};
import tfBackendWebGpu from "@tensorflow/tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js" with {
  type: "text",
};
import tfLayers from "@tensorflow/tfjs-layers/dist/tf-layers.min.js" with {
  type: "text",
};

/**
 * The TF.js browser bundles served under `/vendor/`, in load order: core,
 * backends (WebGPU where the browser has it, otherwise CPU), layers.
 */
export const VENDOR_SCRIPTS: Readonly<Record<string, string>> = Object.freeze({
  "tf-core.min.js": tfCore,
  "tf-backend-cpu.min.js": tfBackendCpu,
  "tf-backend-webgpu.min.js": tfBackendWebGpu,
  "tf-layers.min.js": tfLayers,
});

/** What the page shows. */
export interface PageOptions {
  /** Images in the grid (a square number looks best); default 16. */
  gridCount?: number;
  /** Upscaling of the server images on the page; default 3. */
  scale?: number;
  /** Steps of the interpolation strip; default 8. */
  steps?: number;
}

/**
 * The HTML of the sample page.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderPage } from "./page.ts";
 * assert.ok(renderPage().includes("/model/model.json"));
 * ```
 */
export function renderPage(options: PageOptions = {}): string {
  const config = JSON.stringify({
    gridCount: options.gridCount ?? 16,
    scale: options.scale ?? 3,
    steps: options.steps ?? 8,
  });
  const scripts = Object.keys(VENDOR_SCRIPTS)
    .map((name) => `<script src="/vendor/${name}"></script>`)
    .join("\n");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Generated clothing (WGAN on Fashion-MNIST)</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 1.5rem; background: #111; color: #eee; }
  section { margin-bottom: 1.5rem; }
  img, canvas { image-rendering: pixelated; display: block; margin-top: 0.5rem; }
  input { width: 9rem; }
  .note { color: #aaa; font-size: 0.9rem; }
</style>
</head>
<body>
<h1>Generated clothing</h1>
<form id="controls">
  <label>Seed <input id="seed" type="number" min="0" max="4294967295" step="1"></label>
  <button id="show" type="submit">Show</button>
  <button id="new" type="button">New samples</button>
</form>
<section>
  <h2>From the server</h2>
  <img id="grid" alt="Grid of generated images">
</section>
<section>
  <h2>Interpolation</h2>
  <p class="note">Spherical interpolation from this seed's first latent vector to the next seed's.</p>
  <img id="strip" alt="Interpolation strip">
</section>
<section>
  <h2>In your browser</h2>
  <p class="note">The same seed, generated here with TF.js from <a href="/model/model.json">/model/model.json</a>.
  Backend: <strong id="browser-backend">loading</strong></p>
  <canvas id="browser-grid"></canvas>
</section>
${scripts}
<script type="module">
const config = ${config};
const $ = (id) => document.getElementById(id);
const state = { model: null, seed: 0 };

// The server's latent noise (xoshiro128** seeded by splitmix32, Box-Muller), so
// that a seed gives the same images here as on the server.
function latentNoise(n, dim, seed) {
  const s = new Uint32Array(4);
  let x = seed >>> 0;
  for (let i = 0; i < 4; i++) {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    s[i] = (z ^ (z >>> 16)) >>> 0;
  }
  if (s.every((v) => v === 0)) s[0] = 1;
  const rotl = (v, k) => ((v << k) | (v >>> (32 - k))) >>> 0;
  const next = () => {
    const r = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return r / 4294967296;
  };
  const out = new Float32Array(n * dim);
  for (let i = 0; i < out.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - next()));
    const a = 2 * Math.PI * next();
    out[i] = r * Math.cos(a);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(a);
  }
  return out;
}

// Same layout as the server's grid: near-square, 2-pixel gutter of gray 64, scaled.
function drawGrid(canvas, values, count, size, scale) {
  const cols = Math.ceil(Math.sqrt(count)), rows = Math.ceil(count / cols);
  const tile = size * scale, gutter = 2 * scale;
  canvas.width = cols * tile + (cols - 1) * gutter;
  canvas.height = rows * tile + (rows - 1) * gutter;
  const img = new ImageData(canvas.width, canvas.height);
  for (let p = 0; p < img.data.length; p += 4) {
    img.data[p] = img.data[p + 1] = img.data[p + 2] = 64;
    img.data[p + 3] = 255;
  }
  for (let i = 0; i < count; i++) {
    const x0 = (i % cols) * (tile + gutter), y0 = Math.floor(i / cols) * (tile + gutter);
    for (let y = 0; y < tile; y++) {
      for (let x = 0; x < tile; x++) {
        const v = values[i * size * size + Math.floor(y / scale) * size + Math.floor(x / scale)];
        const b = Math.min(255, Math.max(0, Math.round((v + 1) * 127.5)));
        const p = 4 * ((y0 + y) * canvas.width + x0 + x);
        img.data[p] = img.data[p + 1] = img.data[p + 2] = b;
      }
    }
  }
  canvas.getContext("2d").putImageData(img, 0, 0);
}

async function generateInBrowser(seed) {
  const model = state.model;
  const dim = model.inputs[0].shape[1], size = model.outputs[0].shape[1];
  const z = latentNoise(config.gridCount, dim, seed);
  const images = tf.tidy(() => model.predict(tf.tensor2d(z, [config.gridCount, dim])));
  const values = await images.data();
  images.dispose();
  if (seed !== state.seed) return; // a newer seed was asked for meanwhile
  drawGrid($("browser-grid"), values, config.gridCount, size, config.scale);
  $("browser-grid").dataset.seed = String(seed);
}

function show(seed) {
  state.seed = seed;
  $("seed").value = String(seed);
  $("grid").src = "/sample?n=" + config.gridCount + "&scale=" + config.scale + "&seed=" + seed;
  $("strip").src = "/interpolate?from=" + seed + "&to=" + ((seed + 1) % 4294967296) +
    "&steps=" + config.steps + "&scale=" + config.scale;
  history.replaceState(null, "", "?seed=" + seed);
  if (state.model) generateInBrowser(seed).catch(fail);
}

function fail(e) {
  $("browser-backend").textContent = "failed: " + (e && e.message ? e.message : e);
  document.body.dataset.browser = "failed";
}

const randomSeed = () => crypto.getRandomValues(new Uint32Array(1))[0];
$("controls").addEventListener("submit", (e) => {
  e.preventDefault();
  const seed = Number($("seed").value);
  if (Number.isInteger(seed) && seed >= 0 && seed <= 4294967295) show(seed);
});
$("new").addEventListener("click", () => show(randomSeed()));
const asked = Number(new URLSearchParams(location.search).get("seed") ?? NaN);
show(Number.isInteger(asked) && asked >= 0 && asked <= 4294967295 ? asked : randomSeed());

try {
  tf.enableProdMode();
  await tf.ready(); // WebGPU where the browser offers an adapter, otherwise CPU
  state.model = await tf.loadLayersModel("/model/model.json");
  $("browser-backend").textContent = tf.getBackend();
  await generateInBrowser(state.seed);
  document.body.dataset.browser = "done";
} catch (e) {
  fail(e);
}
</script>
</body>
</html>
`;
}
