import assert from "node:assert/strict";
import { ConfigError, DEFAULT_CONFIG, resolveConfig } from "../lib/config.ts";

Deno.test("DEFAULT_CONFIG holds the paper's Algorithm 1 defaults", () => {
  assert.equal(DEFAULT_CONFIG.lr, 5e-5);
  assert.equal(DEFAULT_CONFIG.clip, 0.01);
  assert.equal(DEFAULT_CONFIG.batch, 64);
  assert.equal(DEFAULT_CONFIG.nCritic, 5);
  assert.equal(DEFAULT_CONFIG.latentDim, 100);
  assert.equal(DEFAULT_CONFIG.arch, "dcgan28");
  assert.equal(DEFAULT_CONFIG.backend, "webgpu");
  assert.equal(DEFAULT_CONFIG.criticWarmup, false);
});

Deno.test("resolveConfig() applies overrides and rejects unknown keys and bad values", () => {
  const c = resolveConfig({ iterations: 3, arch: "mlp", lr: 1e-4 });
  assert.equal(c.iterations, 3);
  assert.equal(c.arch, "mlp");
  assert.equal(c.nCritic, 5);
  assert.throws(() => resolveConfig({ nCriticc: 3 }), ConfigError);
  assert.throws(
    () => resolveConfig({ batch: 0 }),
    /Expected batch to be a positive integer, got 0/,
  );
  assert.throws(() => resolveConfig({ lr: -1 }), /lr to be a positive number/);
  assert.throws(
    () => resolveConfig({ arch: "resnet" }),
    /arch to be one of dcgan28, dcgan64, mlp/,
  );
  assert.throws(
    () => resolveConfig({ backend: "gpu" }),
    /backend to be one of/,
  );
  assert.throws(() => resolveConfig({ nCritic: 2.5 }), /positive integer/);
});
