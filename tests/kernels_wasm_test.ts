/**
 * Each kernel we register into the wasm backend, against the cpu backend's
 * reference kernel on the same inputs (forward and gradients), and one full
 * dcgan28 forward + backward pass through tfjs-layers.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import { initWasmBackend } from "../lib/wasm_backend.ts";
import { buildCritic, buildGenerator } from "../lib/models.ts";
import {
  assertSameAsCpu,
  type ConvCase,
  relativeError,
  runOn,
  testConvGradientKernels,
  values,
} from "./helpers/backend_compare.ts";

tf.enableProdMode();
await initWasmBackend({ threads: 1 });

function assertSameOnWasmAndCpu(
  inputShapes: number[][],
  f: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[],
  tolerance = 1e-5,
): void {
  assertSameAsCpu("wasm", inputShapes, f, tolerance);
}

const CONV_CASES: ConvCase[] = [
  {
    name: "dcgan28 critic conv 1",
    x: [2, 28, 28, 1],
    filter: [4, 4, 1, 64],
    strides: 2,
    pad: "same",
  },
  {
    name: "dcgan28 critic conv 2",
    x: [2, 14, 14, 64],
    filter: [4, 4, 64, 128],
    strides: 2,
    pad: "same",
  },
  {
    name: "odd size, 3x3 stride 2 same",
    x: [2, 9, 7, 5],
    filter: [3, 3, 5, 4],
    strides: 2,
    pad: "same",
  },
  {
    name: "valid with unread rows, 3x2 stride 3",
    x: [2, 10, 9, 3],
    filter: [3, 2, 3, 6],
    strides: 3,
    pad: "valid",
  },
  {
    name: "stride 1 same",
    x: [1, 6, 5, 3],
    filter: [3, 3, 3, 20],
    strides: 1,
    pad: "same",
  },
  {
    name: "kernel smaller than stride",
    x: [2, 7, 7, 20],
    filter: [1, 1, 20, 3],
    strides: 2,
    pad: "valid",
  },
  {
    name: "explicit asymmetric padding, many channels",
    x: [2, 8, 8, 24],
    filter: [4, 4, 24, 16],
    strides: 2,
    pad: [[0, 0], [2, 1], [0, 3], [0, 0]],
  },
];

testConvGradientKernels("wasm", CONV_CASES, assertSameOnWasmAndCpu);

Deno.test("conv2d() gradients on wasm match cpu for both inputs", () => {
  assertSameOnWasmAndCpu([[2, 14, 14, 8], [4, 4, 8, 16]], (x, f) => {
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(
        tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, "same")),
      )
    );
    return g([x, f]);
  });
});

Deno.test("conv2dTranspose() and its gradients on wasm match cpu", () => {
  assertSameOnWasmAndCpu([[2, 7, 7, 32], [4, 4, 16, 32]], (x, f) => {
    const forward = (a: tf.Tensor, b: tf.Tensor) =>
      tf.conv2dTranspose(
        a as tf.Tensor4D,
        b as tf.Tensor4D,
        [2, 14, 14, 16],
        2,
        "same",
      );
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.square(forward(a, b)))
    );
    return [forward(x, f), ...g([x, f])];
  });
});

for (
  const [transposeA, transposeB] of [[false, true], [true, false], [true, true]]
) {
  Deno.test(
    `BatchMatMul on wasm matches cpu with transposeA=${transposeA}, transposeB=${transposeB}`,
    () => {
      const [m, k, n] = [37, 50, 23];
      const a = transposeA ? [k, m] : [m, k];
      const b = transposeB ? [n, k] : [k, n];
      assertSameOnWasmAndCpu(
        [a, b],
        (x, y) => tf.matMul(x, y, transposeA, transposeB),
      );
      // Rank 3 with a batch of one keeps its rank.
      assertSameOnWasmAndCpu(
        [[1, ...a], [1, ...b]],
        (x, y) => tf.matMul(x, y, transposeA, transposeB),
      );
    },
  );
}

Deno.test("BatchMatMul on wasm matches cpu for a batch of several", () => {
  assertSameOnWasmAndCpu(
    [[3, 5, 4], [3, 6, 4]],
    (x, y) => tf.matMul(x, y, false, true),
  );
});

for (
  const [shape, reps] of [
    [[1, 1, 1, 64], [6, 5, 4, 1]],
    [[2, 3, 4], [3, 1, 2]],
    [[5], [3]],
    [[2, 1, 3], [1, 4, 2]],
  ]
) {
  Deno.test(`Tile on wasm matches cpu for ${shape} by ${reps}`, () => {
    assertSameOnWasmAndCpu([shape], (x) => tf.tile(x, reps), 0);
    // Booleans take the same path.
    assertSameOnWasmAndCpu(
      [shape],
      (x) => tf.cast(tf.tile(tf.greater(x, 0), reps), "float32"),
      0,
    );
  });
}

Deno.test("leakyRelu() and its gradient on wasm match cpu", () => {
  assertSameOnWasmAndCpu([[3, 7, 5, 8]], (x) => {
    const g = tf.grad((a: tf.Tensor) =>
      tf.sum(tf.mul(tf.leakyRelu(a, 0.2), a))
    );
    return [tf.leakyRelu(x, 0.2), g(x)];
  }, 0);
});

Deno.test("Greater and Select on wasm match cpu, broadcasting too", () => {
  assertSameOnWasmAndCpu([[4, 6], [4, 6], [4, 6], [6]], (a, t, e, row) => [
    tf.cast(tf.greater(a, 0.25), "float32"),
    tf.cast(tf.greater(a, row), "float32"),
    tf.where(tf.greater(a, 0), t, e),
    tf.where(tf.greater(a, 0), t, tf.scalar(2)),
  ], 0);
});

Deno.test(
  "dcgan28 forward and backward through tfjs-layers on wasm matches cpu",
  () => {
    const batch = 2;
    const options = { arch: "dcgan28" as const, latentDim: 100, seed: 3 };
    const z = values([batch, 100], 5);
    const real = values([batch, 28, 28, 1], 6);
    const results: Float32Array[][] = [];
    for (const backend of ["cpu", "wasm"]) {
      tf.setBackend(backend);
      const generator = buildGenerator(options);
      const critic = buildCritic(options);
      const variables = [
        ...generator.trainableWeights,
        ...critic.trainableWeights,
      ]
        .map((w) => w.read() as tf.Variable);
      results.push(tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => {
          const fake = generator.apply(tf.tensor2d(z, [batch, 100]), {
            training: true,
          }) as tf.Tensor;
          const fakeScores = critic.apply(fake, {
            training: true,
          }) as tf.Tensor;
          const realScores = critic.apply(
            tf.tensor4d(real, [batch, 28, 28, 1]),
            {
              training: true,
            },
          ) as tf.Tensor;
          return tf.sub(tf.mean(fakeScores), tf.mean(realScores)) as tf.Scalar;
        }, variables);
        return [value, ...variables.map((v) => grads[v.name])].map((t) =>
          t.dataSync() as Float32Array
        );
      }));
      generator.dispose();
      critic.dispose();
    }
    const [expected, actual] = results;
    assert.equal(actual.length, expected.length);
    for (let i = 0; i < expected.length; i++) {
      const err = relativeError(actual[i], expected[i]);
      assert.ok(err <= 1e-4, `tensor ${i}: relative error ${err}`);
    }
  },
);

Deno.test("registered wasm kernels keep the tensor count flat", () => {
  tf.setBackend("wasm");
  const x = tf.tensor(values([2, 14, 14, 8], 1), [2, 14, 14, 8]);
  const f = tf.tensor(values([4, 4, 8, 16], 2), [4, 4, 8, 16]);
  const step = () =>
    tf.tidy(() =>
      tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.conv2dTranspose(
          tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, "same"),
          b as tf.Tensor4D,
          [2, 14, 14, 8],
          2,
          "same",
        ))
      )([x, f])
    );
  tf.dispose(step());
  const before = tf.memory().numTensors;
  const bytesBefore = (tf.backend() as unknown as { numDataIds(): number })
    .numDataIds();
  tf.dispose(step());
  assert.equal(tf.memory().numTensors, before);
  assert.equal(
    (tf.backend() as unknown as { numDataIds(): number }).numDataIds(),
    bytesBefore,
  );
  tf.dispose([x, f]);
});

Deno.test(
  "initWasmBackend() with 2 threads trains dcgan28 layers like 1 thread and lets the process exit",
  async () => {
    // A backend starts once per process: run the threaded one in a child.
    const script = `
      import * as tf from "@tensorflow/tfjs-core";
      import "@tensorflow/tfjs-layers"; // registers the gradients
      import { initWasmBackend } from "./lib/wasm_backend.ts";
      tf.enableProdMode();
      const info = await initWasmBackend({ threads: 2 });
      const [x, f] = JSON.parse(await new Response(Deno.stdin.readable).text());
      const g = tf.grads((a, b) => tf.sum(tf.square(tf.conv2d(a, b, 2, "same"))));
      const [dx, df] = g([tf.tensor(x, [4, 14, 14, 16]), tf.tensor(f, [4, 4, 16, 32])]);
      console.log(JSON.stringify({ info, dx: [...dx.dataSync()], df: [...df.dataSync()] }));
    `; // no Deno.exit: the process must end by itself
    const x = values([4, 14, 14, 16], 1), f = values([4, 4, 16, 32], 2);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", "--config", "deno.json", script],
      cwd: new URL("..", import.meta.url),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(
      new TextEncoder().encode(JSON.stringify([[...x], [...f]])),
    );
    await writer.close();
    const timer = setTimeout(() => child.kill(), 60_000);
    const { code, stdout, stderr } = await child.output();
    clearTimeout(timer);
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const result = JSON.parse(new TextDecoder().decode(stdout));
    assert.deepEqual(result.info, { threads: 2, simd: true });
    const [dx, df] = runOn(
      "wasm",
      [{ shape: [4, 14, 14, 16], data: x }, { shape: [4, 4, 16, 32], data: f }],
      (a, b) =>
        tf.grads((p: tf.Tensor, q: tf.Tensor) =>
          tf.sum(
            tf.square(tf.conv2d(p as tf.Tensor4D, q as tf.Tensor4D, 2, "same")),
          )
        )([a, b]),
    );
    assert.ok(relativeError(new Float32Array(result.dx), dx) <= 1e-5);
    assert.ok(relativeError(new Float32Array(result.df), df) <= 1e-5);
  },
);
