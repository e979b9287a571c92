import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { buildGenerator } from "../lib/models.ts";
import { createApp } from "../lib/serving.ts";
import { ByteCache } from "../lib/serving_cache.ts";

tf.enableProdMode();
await tf.setBackend("cpu");

const bytesOf = (v: Uint8Array) => v.length;

Deno.test("ByteCache evicts the least recently used once over maxBytes", () => {
  const cache = new ByteCache<Uint8Array>({ maxBytes: 10, sizeOf: bytesOf });
  cache.set("a", new Uint8Array(4));
  cache.set("b", new Uint8Array(4));
  assert.ok(cache.get("a")); // a is now the most recently used
  cache.set("c", new Uint8Array(4)); // 12 > 10: b goes
  assert.equal(cache.get("b"), undefined);
  assert.ok(cache.get("a") && cache.get("c"));
  assert.equal(cache.bytes, 8);
  assert.equal(cache.size, 2);
  cache.set("a", new Uint8Array(6)); // replacing counts the new size only
  assert.equal(cache.bytes, 10);
  cache.set("huge", new Uint8Array(11)); // larger than the cache: not kept
  assert.equal(cache.get("huge"), undefined);
  assert.equal(cache.bytes, 10);
  assert.throws(
    () => new ByteCache({ maxBytes: -1, sizeOf: bytesOf }),
    /Expected maxBytes of 0 or more, got -1/,
  );
});

Deno.test("ByteCache.getOrCreate() shares one computation between concurrent misses and keeps no failure", async () => {
  const cache = new ByteCache<Uint8Array>({ maxBytes: 100, sizeOf: bytesOf });
  let made = 0;
  const make = async () => {
    made++;
    await new Promise((r) => setTimeout(r, 5));
    return new Uint8Array([made]);
  };
  const [a, b, c] = await Promise.all([
    cache.getOrCreate("k", make),
    cache.getOrCreate("k", make),
    cache.getOrCreate("k", make),
  ]);
  assert.equal(made, 1);
  assert.ok(a === b && b === c);
  assert.equal(await cache.getOrCreate("k", make), a);
  assert.deepEqual([cache.hits, cache.misses], [3, 1]);

  let fail = true;
  const flaky = () =>
    fail
      ? Promise.reject(new Error("boom"))
      : Promise.resolve(new Uint8Array(1));
  await assert.rejects(cache.getOrCreate("f", flaky), /boom/);
  fail = false;
  assert.equal((await cache.getOrCreate("f", flaky)).length, 1);

  // maxBytes 0 keeps nothing, but concurrent misses still share.
  const none = new ByteCache<Uint8Array>({ maxBytes: 0, sizeOf: bytesOf });
  made = 0;
  await Promise.all([none.getOrCreate("k", make), none.getOrCreate("k", make)]);
  assert.equal(made, 1);
  await none.getOrCreate("k", make);
  assert.equal(made, 2);
  assert.equal(none.size, 0);
});

const generator = buildGenerator({ arch: "dcgan28", latentDim: 100, seed: 2 });

interface Info {
  batching: { batches: number };
  cache: { entries: number; bytes: number; hits: number; misses: number };
}

async function info(app: ReturnType<typeof createApp>): Promise<Info> {
  return await (await app.request("/info")).json();
}

async function fetchBytes(app: ReturnType<typeof createApp>, path: string) {
  const res = await app.request(path);
  return { res, bytes: new Uint8Array(await res.arrayBuffer()) };
}

Deno.test("a repeated seeded request is answered from the PNG cache: same bytes and ETag, no generator call, tf.memory flat", async () => {
  const app = createApp({ generator, backend: "cpu" });
  const first = await fetchBytes(app, "/sample?n=9&seed=5&scale=2");
  const before = await info(app);
  const tensors = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) {
    const again = await fetchBytes(app, "/sample?n=9&seed=5&scale=2");
    assert.deepEqual(again.bytes, first.bytes);
    assert.equal(again.res.headers.get("etag"), first.res.headers.get("etag"));
    assert.equal(again.res.headers.get("x-seed"), "5");
  }
  const after = await info(app);
  assert.equal(after.batching.batches, before.batching.batches);
  assert.equal(after.cache.hits - before.cache.hits, 5);
  assert.equal(tf.memory().numTensors, tensors);
  // The cached bytes are what a cacheless server makes.
  const uncached = createApp({ generator, cacheBytes: 0 });
  const fresh = await fetchBytes(uncached, "/sample?n=9&seed=5&scale=2");
  assert.deepEqual(fresh.bytes, first.bytes);
  assert.equal(fresh.res.headers.get("etag"), first.res.headers.get("etag"));
  assert.equal((await info(uncached)).cache.entries, 0);
});

Deno.test("a seeded request with a matching If-None-Match gets 304 without a generator call", async () => {
  const app = createApp({ generator });
  const first = await fetchBytes(app, "/interpolate?from=3&to=4&steps=4");
  const tag = first.res.headers.get("etag")!;
  assert.match(tag, /^"[0-9a-f]{40}"$/);
  const before = (await info(app)).batching.batches;
  const res = await app.request("/interpolate?from=3&to=4&steps=4", {
    headers: { "If-None-Match": `"other", ${tag}` },
  });
  assert.equal(res.status, 304);
  assert.equal(res.headers.get("etag"), tag);
  assert.equal(
    res.headers.get("cache-control"),
    "public, max-age=31536000, immutable",
  );
  assert.equal((await res.arrayBuffer()).byteLength, 0);
  assert.equal((await info(app)).batching.batches, before);
});

Deno.test("unseeded samples are neither cached nor sent with an ETag", async () => {
  const app = createApp({ generator });
  for (let i = 0; i < 3; i++) {
    const { res } = await fetchBytes(app, "/sample?n=2");
    assert.equal(res.headers.get("etag"), null);
    assert.equal(res.headers.get("cache-control"), "no-store");
  }
  const { cache } = await info(app);
  assert.deepEqual([cache.entries, cache.hits, cache.misses], [0, 0, 0]);
});

Deno.test("the PNG cache stays within cacheBytes", async () => {
  const app = createApp({ generator, cacheBytes: 3000 });
  for (let seed = 0; seed < 12; seed++) {
    await fetchBytes(app, `/sample?seed=${seed}`); // ~800 bytes each
  }
  const { cache } = await info(app);
  assert.ok(cache.bytes <= 3000, `${cache.bytes} bytes`);
  assert.ok(cache.entries >= 2 && cache.entries < 12, `${cache.entries}`);
});
