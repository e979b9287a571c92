/**
 * The HTTP app that serves a generator as PNG images: a Hono factory,
 * `createApp({ generator })`, with handlers written inline after their paths.
 *
 * Endpoints: `GET /sample`, `GET /interpolate`, `GET /healthz`, `GET /info`,
 * `GET /model/model.json`, `GET /model/weights.bin`, `GET /` (a page that can
 * also generate in the browser) and `GET /vendor/*` (its TF.js scripts).
 * Invalid queries get 400 with a JSON body naming the parameter and the
 * allowed range; unknown paths 404; other methods on known paths 405.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import { Hono } from "hono";
import type { Context } from "hono";
import { etag } from "hono/etag";
import { compileGenerator } from "./generator_inference.ts";
import { MicroBatcher } from "./micro_batch.ts";
import { renderPage, VENDOR_SCRIPTS } from "./page.ts";
import { encodePngSync, tileImages, toUint8 } from "./png.ts";
import { ByteCache } from "./serving_cache.ts";
import { latentNoise } from "./random.ts";
import { interpolateLatents } from "./slerp.ts";

/** Options for {@link createApp}. */
export interface ServingOptions {
  /** The generator: z `[B, latentDim]` → images `[B, S, S, 1]` in [-1, 1]. */
  generator: tfl.LayersModel;
  /** Name of the active TF.js backend, reported by `/healthz`; default `tf.getBackend()`. */
  backend?: string;
  /** What is served (e.g. the model directory), reported by `/healthz` and `/info`. */
  model?: string;
  /** The model's provenance record (how it was trained), reported by `/info`. */
  provenance?: unknown;
  /** Architecture name for `/info`; default inferred from the generator's layers. */
  arch?: string;
  /** Most images per generator call when batching concurrent requests; default 256. */
  maxBatch?: number;
  /**
   * Run a `dcgan28` generator through {@link compileGenerator} (same images to
   * float rounding) in the given form: `"subpixel"` (or `true`; several times
   * faster on the wasm backend) or `"transposed"` (batch norm folded; for the
   * blas and cpu backends); default false (`model.predict`). Other
   * architectures always use `model.predict`.
   */
  compile?: boolean | "subpixel" | "transposed";
  /** Source of seeds for requests without one; default `crypto.getRandomValues`. */
  randomSeed?: () => number;
  /**
   * Bytes of encoded PNGs kept for seeded requests (`/sample` with a seed,
   * `/interpolate`), least recently used evicted first; default 64 MiB, 0 keeps
   * none. Same request, same bytes: a hit skips the generator and the encoder.
   */
  cacheBytes?: number;
  /** zlib level of the PNGs, 0-9; default 1 (fastest; ~7% larger than 6 on a grid). */
  pngLevel?: number;
}

/** A finished PNG response: its bytes and their strong ETag. */
interface Encoded {
  body: Uint8Array;
  etag: string;
}

/** Upper limits of the query parameters, as the 400 responses state them. */
export const LIMITS = {
  n: { min: 1, max: 256 },
  scale: { min: 1, max: 8 },
  steps: { min: 2, max: 32 },
  seed: { min: 0, max: 4294967295 },
} as const;

const SEEDED_CACHE = "public, max-age=31536000, immutable";
const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;
const PATHS = [
  "/",
  "/sample",
  "/interpolate",
  "/healthz",
  "/info",
  "/model/model.json",
  "/model/weights.bin",
  ...Object.keys(VENDOR_SCRIPTS).map((name) => `/vendor/${name}`),
];

/** A client error: answered with 400 and a JSON body naming the parameter. */
class QueryError extends Error {
  constructor(
    readonly parameter: string,
    message: string,
    readonly allowed?: { min: number; max: number } | string[],
  ) {
    super(message);
  }
}

type Query = Record<string, string>;

// Validation at the edge: unknown and repeated parameters are errors too.
function readQuery(c: Context, allowed: string[]): Query {
  const url = new URL(c.req.url);
  const query: Query = {};
  for (const [key, value] of url.searchParams) {
    if (!allowed.includes(key)) {
      throw new QueryError(
        key,
        `Unknown query parameter "${key}": expected one of ${
          allowed.join(", ")
        }`,
        allowed,
      );
    }
    if (key in query) {
      throw new QueryError(
        key,
        `Query parameter "${key}" given more than once`,
      );
    }
    query[key] = value;
  }
  return query;
}

function intParam(
  query: Query,
  name: keyof typeof LIMITS,
  fallback?: number,
  label: string = name,
): number | undefined {
  const raw = query[label];
  if (raw === undefined) return fallback;
  const { min, max } = LIMITS[name];
  const value = /^\d{1,10}$/.test(raw) ? Number(raw) : NaN;
  if (!(value >= min && value <= max)) {
    throw new QueryError(
      label,
      `Query parameter "${label}" must be an integer from ${min} to ${max}, got "${raw}"`,
      { min, max },
    );
  }
  return value;
}

function requiredSeed(query: Query, label: string): number {
  const seed = intParam(query, "seed", undefined, label);
  if (seed === undefined) {
    const { min, max } = LIMITS.seed;
    throw new QueryError(
      label,
      `Query parameter "${label}" is required: an integer from ${min} to ${max}`,
      { min, max },
    );
  }
  return seed;
}

/** A short architecture name read off the generator's layers. */
function inferArch(generator: tfl.LayersModel): string {
  const size = generator.outputs[0].shape[1];
  const convolutional = generator.layers.some((l) =>
    l.getClassName() === "Conv2DTranspose"
  );
  if (!convolutional) return "mlp";
  return size === 64 ? "dcgan64" : size === 28 ? "dcgan28" : `dcgan${size}`;
}

/** The generator's files as a browser loads them: one model.json, one weights.bin. */
async function modelFiles(
  generator: tfl.LayersModel,
): Promise<{ modelJson: string; weights: Uint8Array }> {
  let files: { modelJson: string; weights: Uint8Array } | undefined;
  await generator.save(tf.io.withSaveHandler((artifacts) => {
    const data = artifacts.weightData!;
    const weights = new Uint8Array(
      Array.isArray(data) ? new tf.io.CompositeArrayBuffer(data).slice() : data,
    );
    files = {
      modelJson: JSON.stringify({
        format: artifacts.format ?? "layers-model",
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{
          paths: ["weights.bin"],
          weights: artifacts.weightSpecs,
        }],
      }),
      weights,
    };
    return Promise.resolve({
      modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts),
    });
  }));
  return files!;
}

/**
 * Builds the serving app around a loaded generator. The app never reads files:
 * the model is fixed when the app is built.
 *
 * @example
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import { createApp } from "./serving.ts";
 * const app = createApp({ generator, backend: "cpu" });
 * const res = await app.request("/sample?n=4&seed=1");
 * assert.ok(res.headers.get("content-type") === "image/png");
 * ```
 */
export function createApp(options: ServingOptions): Hono {
  const { generator } = options;
  const latentDim = generator.inputs[0].shape[1] as number;
  const [, height, width, channels] = generator.outputs[0].shape as number[];
  if (height !== width || channels !== 1) {
    throw new RangeError(
      `Expected a generator of square grayscale images [B, S, S, 1], got ${
        JSON.stringify(generator.outputs[0].shape)
      }`,
    );
  }
  const size = height;
  const arch = options.arch ?? inferArch(generator);
  const parameters = generator.countParams();
  const randomSeed = options.randomSeed ??
    (() => crypto.getRandomValues(new Uint32Array(1))[0]);
  const compiled = options.compile
    ? compileGenerator(generator, {
      form: options.compile === true ? "subpixel" : options.compile,
    })
    : undefined;
  const batcher = new MicroBatcher(
    async (z, count) => {
      const images = tf.tidy(() => {
        const input = tf.tensor2d(z, [count, latentDim]);
        return compiled
          ? compiled.predict(input)
          : generator.predict(input) as tf.Tensor;
      }); // [count, S, S, 1]
      try {
        return await images.data() as Float32Array;
      } finally {
        images.dispose();
      }
    },
    {
      latentDim,
      imageLength: size * size,
      maxBatch: options.maxBatch ?? LIMITS.n.max,
    },
  );
  let files: Promise<{ modelJson: string; weights: Uint8Array }> | undefined;
  const getFiles = () => files ??= modelFiles(generator);
  const page = renderPage();

  const pngLevel = options.pngLevel ?? 1;
  const cache = new ByteCache<Encoded>({
    maxBytes: options.cacheBytes ?? DEFAULT_CACHE_BYTES,
    sizeOf: (e) => e.body.length + e.etag.length,
  });

  async function png(
    z: Float32Array,
    count: number,
    scale: number,
    cols?: number,
  ): Promise<Uint8Array> {
    const values = await batcher.generate(z, count); // [count, S, S, 1]
    return encodePngSync(
      tileImages(toUint8(values), count, { size, scale, cols }),
      { level: pngLevel },
    );
  }

  /** A seeded PNG, from the cache or made by `make` and kept with its ETag. */
  function seededPng(
    key: string,
    make: () => Promise<Uint8Array>,
  ): Promise<Encoded> {
    return cache.getOrCreate(key, async () => {
      const body = await make();
      const digest = new Uint8Array(
        await crypto.subtle.digest("SHA-1", body as Uint8Array<ArrayBuffer>),
      );
      const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0"));
      return { body, etag: `"${hex.join("")}"` };
    });
  }

  function pngResponse(
    c: Context,
    body: Uint8Array,
    headers: Record<string, string>,
  ): Response {
    return c.body(body as Uint8Array<ArrayBuffer>, 200, {
      "Content-Type": "image/png",
      ...headers,
    });
  }

  /** 200 with the bytes, or 304 when If-None-Match names their ETag. */
  function seededResponse(
    c: Context,
    encoded: Encoded,
    headers: Record<string, string> = {},
  ): Response {
    const common = { "Cache-Control": SEEDED_CACHE, ETag: encoded.etag };
    const ifNoneMatch = c.req.header("If-None-Match");
    if (
      ifNoneMatch !== undefined &&
      (ifNoneMatch.trim() === "*" ||
        ifNoneMatch.match(/"[^"]*"/g)?.includes(encoded.etag))
    ) {
      return c.body(null, 304, common);
    }
    return pngResponse(c, encoded.body, { ...common, ...headers });
  }

  const app = new Hono();

  app.onError((err, c) => {
    if (err instanceof QueryError) {
      return c.json({
        error: err.message,
        parameter: err.parameter,
        ...(err.allowed ? { allowed: err.allowed } : {}),
      }, 400);
    }
    // A server fault: say so without internals.
    return c.json({ error: "Internal server error" }, 500);
  });

  // Strong ETags (a SHA-1 of the body) and 304 for a matching If-None-Match:
  // /sample and /interpolate keep them with their cached PNGs (and send none
  // for unseeded, no-store samples); the middleware hashes everything else.
  const hashed = etag();
  app.use((c, next) =>
    c.req.path === "/sample" || c.req.path === "/interpolate"
      ? next()
      : hashed(c, next)
  );

  app.get("/", (c) => {
    c.header("Cache-Control", "no-cache");
    return c.html(page);
  });

  app.get("/vendor/:name", (c) => {
    const source = VENDOR_SCRIPTS[c.req.param("name")];
    if (source === undefined) return c.json({ error: "Not found" }, 404);
    c.header("Cache-Control", "public, max-age=86400");
    return c.body(source, 200, {
      "Content-Type": "text/javascript; charset=utf-8",
    });
  });

  app.get("/sample", async (c) => {
    const query = readQuery(c, ["n", "seed", "scale"]);
    const n = intParam(query, "n", 1)!;
    const scale = intParam(query, "scale", 1)!;
    const given = intParam(query, "seed");
    if (given === undefined) {
      const seed = randomSeed();
      const body = await png(latentNoise(n, latentDim, seed), n, scale);
      return pngResponse(c, body, {
        "Cache-Control": "no-store",
        "X-Seed": String(seed),
      });
    }
    const encoded = await seededPng(
      `sample:${n}:${given}:${scale}`,
      () => png(latentNoise(n, latentDim, given), n, scale),
    );
    return seededResponse(c, encoded, { "X-Seed": String(given) });
  });

  app.get("/interpolate", async (c) => {
    const query = readQuery(c, ["from", "to", "steps", "scale"]);
    const from = requiredSeed(query, "from");
    const to = requiredSeed(query, "to");
    const steps = intParam(query, "steps", 8)!;
    const scale = intParam(query, "scale", 1)!;
    const encoded = await seededPng(
      `interpolate:${from}:${to}:${steps}:${scale}`,
      () => {
        const z = interpolateLatents(
          latentNoise(1, latentDim, from),
          latentNoise(1, latentDim, to),
          steps,
        );
        return png(z, steps, scale, steps);
      },
    );
    return seededResponse(c, encoded);
  });

  app.get("/healthz", (c) => {
    c.header("Cache-Control", "no-store");
    return c.json({
      status: "ok",
      backend: options.backend ?? tf.getBackend(),
      model: options.model ?? generator.name,
    });
  });

  app.get("/info", (c) => {
    c.header("Cache-Control", "no-cache");
    return c.json({
      arch,
      model: options.model ?? generator.name,
      parameters,
      latentDim,
      imageSize: size,
      backend: options.backend ?? tf.getBackend(),
      inference: compiled ? "compiled" : "predict",
      limits: LIMITS,
      batching: { batches: batcher.batches, images: batcher.images },
      cache: {
        entries: cache.size,
        bytes: cache.bytes,
        hits: cache.hits,
        misses: cache.misses,
      },
      provenance: options.provenance ?? null,
    });
  });

  app.get("/model/model.json", async (c) => {
    c.header("Cache-Control", "no-cache");
    c.header("Access-Control-Allow-Origin", "*");
    return c.body((await getFiles()).modelJson, 200, {
      "Content-Type": "application/json",
    });
  });

  app.get("/model/weights.bin", async (c) => {
    c.header("Cache-Control", "no-cache");
    c.header("Access-Control-Allow-Origin", "*");
    return c.body(
      (await getFiles()).weights as Uint8Array<ArrayBuffer>,
      200,
      { "Content-Type": "application/octet-stream" },
    );
  });

  // Known paths with other methods: 405 with the allowed ones.
  app.all("*", (c) => {
    const known = PATHS.includes(c.req.path);
    if (known) {
      c.header("Allow", "GET, HEAD");
      return c.json({ error: `Method ${c.req.method} not allowed` }, 405);
    }
    return c.json({ error: `Not found: ${c.req.path}` }, 404);
  });

  return app;
}
