import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { BackendError, initBackend, probeWebGpu } from "../lib/backend.ts";
import { resolveConfig } from "../lib/config.ts";
import { trainableVariables, Wgan } from "../lib/wgan.ts";
import { Rng } from "../lib/random.ts";

/** Runs `fn` with navigator.gpu hidden, as on a machine without WebGPU. */
async function withoutWebGpu<T>(fn: () => Promise<T>): Promise<T> {
  const saved = Object.getOwnPropertyDescriptor(Navigator.prototype, "gpu");
  Object.defineProperty(Navigator.prototype, "gpu", {
    get: () => undefined,
    configurable: true,
  });
  try {
    return await fn();
  } finally {
    Object.defineProperty(Navigator.prototype, "gpu", saved!);
  }
}

Deno.test("initBackend('webgpu') without an adapter fails with one clear line; 'auto' falls back", async () => {
  await withoutWebGpu(async () => {
    assert.equal(await probeWebGpu(), undefined);
    await assert.rejects(
      () => initBackend("webgpu"),
      (e: Error) =>
        e instanceof BackendError &&
        /^No WebGPU adapter found: use --backend cpu, or --backend auto/.test(
          e.message,
        ),
    );
    const info = await initBackend("auto");
    assert.notEqual(info.name, "webgpu");
    assert.match(
      info.message,
      /^backend auto: chose \w+( \([^)]*\))?: there is no WebGPU adapter/,
    );
  });
});

Deno.test("initBackend('webgpu') says when the adapter is a software one", async () => {
  const gpu = await probeWebGpu();
  assert.ok(
    gpu,
    "this machine is expected to have a WebGPU adapter (software or not)",
  );
  const info = await initBackend("webgpu");
  assert.equal(tf.getBackend(), "webgpu");
  assert.equal(info.softwareAdapter, gpu.isFallbackAdapter);
  if (gpu.isFallbackAdapter) assert.match(info.message, /software adapter/);
});

/** One dcgan28 generator iteration (1 critic update + 1 generator update) on a backend. */
async function oneStep(backend: "cpu" | "webgpu") {
  await initBackend(backend);
  const config = resolveConfig({ batch: 2, nCritic: 1, seed: 3 });
  const wgan = new Wgan(config);
  const rng = new Rng(11);
  const x = tf.tensor4d(rng.fillNormal(new Float32Array(2 * 784)), [
    2,
    28,
    28,
    1,
  ]);
  const losses = wgan.trainIteration(() => tf.clone(x));
  const result = {
    criticLoss: (await losses.criticLoss.data())[0],
    generatorLoss: (await losses.generatorLoss.data())[0],
    critic: await Promise.all(
      trainableVariables(wgan.critic).map((v) => v.data()),
    ),
    generator: await Promise.all(
      trainableVariables(wgan.generator).map((v) => v.data()),
    ),
  };
  tf.dispose([x, losses.criticLoss, losses.generatorLoss]);
  wgan.dispose();
  return result;
}

Deno.test("one dcgan28 training step on webgpu and on cpu agree within float tolerance", async () => {
  const cpu = await oneStep("cpu");
  const gpu = await oneStep("webgpu");
  assert.ok(
    Math.abs(cpu.criticLoss - gpu.criticLoss) < 1e-4,
    `${cpu.criticLoss} vs ${gpu.criticLoss}`,
  );
  assert.ok(Math.abs(cpu.generatorLoss - gpu.generatorLoss) < 1e-4);
  for (const key of ["critic", "generator"] as const) {
    let maxDiff = 0;
    cpu[key].forEach((a, i) => {
      const b = gpu[key][i];
      for (let j = 0; j < a.length; j++) {
        maxDiff = Math.max(
          maxDiff,
          Math.abs((a[j] as number) - (b[j] as number)),
        );
      }
    });
    // RMSProp's first step moves each weight by about lr·g/|g| = 5e-5·√(1/0.01) = 5e-4.
    assert.ok(maxDiff < 2e-5, `${key} weights differ by ${maxDiff}`);
  }
});
