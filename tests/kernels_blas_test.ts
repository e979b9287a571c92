/**
 * Each OpenBLAS kernel of the "blas" backend against tfjs's cpu backend on
 * the same inputs (forward and gradients), and full dcgan28 forward +
 * backward passes through tfjs-layers. Needs OpenBLAS and `--allow-ffi`.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import {
  BLAS_BACKEND,
  BLAS_KERNELS,
  blasAvailable,
  FAST_CPU_KERNELS,
  initBlasBackend,
} from "../lib/blas_backend.ts";
import {
  col2im,
  type ConvGeometry,
  im2col,
} from "../lib/kernels/blas_im2col.ts";
import {
  blasThreads,
  sgemm,
  SINGLE_THREAD_MACS,
} from "../lib/kernels/blas_ffi.ts";
import {
  clearPatchCache,
  PATCH_CACHE_ENTRIES,
  patchCacheSize,
} from "../lib/kernels/blas_conv2d.ts";
import { LEAKY_RELU_GRAD } from "../lib/kernels/blas_gradients.ts";
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
await initBlasBackend({ threads: 2, setBackend: false });

// Runs `f` on cpu and on blas; asserts that every output agrees and that the
// blas run called at least one of our kernels.
function assertSameOnBlasAndCpu(
  inputShapes: number[][],
  f: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[],
  tolerance = 1e-5,
): void {
  assertSameAsCpu(BLAS_BACKEND, inputShapes, f, tolerance, (run) => {
    const calls = countKernelCalls(run);
    assert.ok(calls.count > 0, "none of our kernels ran");
    return calls.result;
  });
}

// Counts calls of our kernels while `f` runs (wrapping the registered ones).
function countKernelCalls<T>(f: () => T): { result: T; count: number } {
  let count = 0;
  const ours = [...BLAS_KERNELS, ...FAST_CPU_KERNELS];
  for (const config of ours) {
    tf.unregisterKernel(config.kernelName, BLAS_BACKEND);
    tf.registerKernel({
      ...config,
      kernelFunc: (args) => {
        count++;
        return config.kernelFunc(args);
      },
    });
  }
  try {
    return { result: f(), count };
  } finally {
    for (const config of ours) {
      tf.unregisterKernel(config.kernelName, BLAS_BACKEND);
      tf.registerKernel(config);
    }
  }
}

const CONV_CASES: ConvCase[] = [
  {
    name: "dcgan28 critic conv 1 (k4 s2 same, 1 channel)",
    x: [3, 28, 28, 1],
    filter: [4, 4, 1, 64],
    strides: 2,
    pad: "same",
  },
  {
    name: "dcgan28 critic conv 2 (k4 s2 same)",
    x: [2, 14, 14, 64],
    filter: [4, 4, 64, 128],
    strides: 2,
    pad: "same",
  },
  {
    name: "k3 s1 valid",
    x: [2, 9, 8, 5],
    filter: [3, 3, 5, 7],
    strides: 1,
    pad: "valid",
  },
  {
    name: "odd sizes, k3 s2 same",
    x: [3, 9, 7, 5],
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
    name: "unequal strides, k5 same",
    x: [2, 11, 10, 2],
    filter: [5, 5, 2, 3],
    strides: [2, 3],
    pad: "same",
  },
  {
    name: "pointwise 1x1 stride 1",
    x: [2, 5, 6, 8],
    filter: [1, 1, 8, 3],
    strides: 1,
    pad: "valid",
  },
  {
    name: "1x1 with stride 2",
    x: [2, 7, 7, 20],
    filter: [1, 1, 20, 3],
    strides: 2,
    pad: "valid",
  },
  {
    name: "explicit asymmetric padding",
    x: [2, 8, 8, 6],
    filter: [4, 4, 6, 5],
    strides: 2,
    pad: [[0, 0], [2, 1], [0, 3], [0, 0]],
  },
];

for (const c of CONV_CASES) {
  Deno.test(`Conv2D on blas matches cpu: ${c.name}`, () => {
    assertSameOnBlasAndCpu(
      [c.x, c.filter],
      (x, f) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, c.strides, c.pad),
    );
  });
}
testConvGradientKernels("blas", CONV_CASES, assertSameOnBlasAndCpu);

Deno.test("conv2d() gradients on blas match cpu for both inputs", () => {
  assertSameOnBlasAndCpu([[2, 14, 14, 8], [4, 4, 8, 16]], (x, f) => {
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(
        tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, "same")),
      )
    );
    return g([x, f]);
  });
});

Deno.test("conv2d()'s weight gradient from the forward pass's cached patches equals a fresh im2col bit for bit", () => {
  tf.setBackend(BLAS_BACKEND);
  const x = tf.tensor4d(values([3, 14, 14, 8], 5), [3, 14, 14, 8]);
  const f = tf.tensor4d(values([4, 4, 8, 16], 6), [4, 4, 8, 16]);
  const dy = tf.tensor4d(values([3, 7, 7, 16], 7), [3, 7, 7, 16]);
  const dw = (): Float32Array =>
    tf.tidy(() =>
      (tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, {
        strides: 2,
        pad: "same",
        dataFormat: "NHWC",
        dimRoundingMode: undefined,
        filterShape: [4, 4, 8, 16],
      } as unknown as tf.NamedAttrMap) as tf.Tensor).dataSync() as Float32Array
    );
  clearPatchCache();
  const fresh = dw();
  tf.tidy(() => tf.conv2d(x, f, 2, "same")); // caches x's patches
  assert.equal(patchCacheSize(), 1);
  const cached = dw();
  assert.deepEqual(cached, fresh);
  // Other inputs evict the entries of disposed ones; the cache stays bounded.
  for (let i = 0; i < 2 * PATCH_CACHE_ENTRIES; i++) {
    tf.tidy(() => tf.conv2d(tf.add(x, i) as tf.Tensor4D, f, 2, "same"));
  }
  assert.ok(patchCacheSize() <= PATCH_CACHE_ENTRIES);
  tf.dispose([x, f, dy]);
  clearPatchCache();
});

Deno.test("leakyRelu() gradient on blas runs the fused kernel and equals cpu's bit for bit", () => {
  const shape = [4, 5, 6, 7];
  const data = values(shape, 9);
  data[0] = 0;
  data[1] = -0;
  data[2] = NaN;
  const dyData = values(shape, 10);
  const grad = (backend: string): Float32Array => {
    tf.setBackend(backend);
    return tf.tidy(() => {
      const x = tf.tensor(data, shape), dy = tf.tensor(dyData, shape);
      const g = tf.grad((a: tf.Tensor) => tf.leakyRelu(a, 0.2));
      return g(x, dy).dataSync() as Float32Array;
    });
  };
  const expected = grad("cpu");
  let fusedCalls = 0;
  const kernel = tf.getKernel(LEAKY_RELU_GRAD, BLAS_BACKEND)!;
  tf.unregisterKernel(LEAKY_RELU_GRAD, BLAS_BACKEND);
  tf.registerKernel({
    ...kernel,
    kernelFunc: (args) => {
      fusedCalls++;
      return kernel.kernelFunc(args);
    },
  });
  try {
    const actual = grad(BLAS_BACKEND);
    assert.equal(fusedCalls, 1);
    assert.deepEqual(actual, expected);
  } finally {
    tf.unregisterKernel(LEAKY_RELU_GRAD, BLAS_BACKEND);
    tf.registerKernel(kernel);
  }
});

Deno.test("fused conv2d() with bias and relu and its gradients on blas match cpu", () => {
  assertSameOnBlasAndCpu([[2, 9, 9, 3], [3, 3, 3, 6], [6]], (x, f, b) => {
    const forward = (a: tf.Tensor, w: tf.Tensor, bias: tf.Tensor) =>
      tf.fused.conv2d({
        x: a as tf.Tensor4D,
        filter: w as tf.Tensor4D,
        strides: 1,
        pad: "valid",
        bias,
        activation: "relu",
      });
    const g = tf.grads((a: tf.Tensor, w: tf.Tensor, bias: tf.Tensor) =>
      tf.sum(tf.square(forward(a, w, bias)))
    );
    return [forward(x, f, b), ...g([x, f, b])];
  });
});

Deno.test("conv2dTranspose() and its gradients on blas match cpu", () => {
  assertSameOnBlasAndCpu([[2, 7, 7, 32], [4, 4, 16, 32]], (x, f) => {
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

Deno.test("conv2dTranspose() with odd sizes and valid padding on blas matches cpu", () => {
  assertSameOnBlasAndCpu([[3, 4, 5, 3], [3, 2, 2, 3]], (x, f) => {
    const forward = (a: tf.Tensor, b: tf.Tensor) =>
      tf.conv2dTranspose(
        a as tf.Tensor4D,
        b as tf.Tensor4D,
        [3, 10, 11, 2],
        2,
        "valid",
      );
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.square(forward(a, b)))
    );
    return [forward(x, f), ...g([x, f])];
  });
});

for (
  const [transposeA, transposeB] of [
    [false, false],
    [false, true],
    [true, false],
    [true, true],
  ]
) {
  Deno.test(
    `matMul() and its gradients on blas match cpu with transposeA=${transposeA}, transposeB=${transposeB}`,
    () => {
      const [m, k, n] = [37, 50, 23];
      const a = transposeA ? [k, m] : [m, k];
      const b = transposeB ? [n, k] : [k, n];
      const f = (x: tf.Tensor, y: tf.Tensor) =>
        tf.matMul(x, y, transposeA, transposeB);
      const withGrads = (x: tf.Tensor, y: tf.Tensor) => [
        f(x, y),
        ...tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.square(f(p, q))))(
          [x, y],
        ),
      ];
      assertSameOnBlasAndCpu([a, b], withGrads);
      // Batched, with a shared right operand, and broadcast from one.
      assertSameOnBlasAndCpu([[3, ...a], [3, ...b]], f);
      assertSameOnBlasAndCpu([[3, ...a], [1, ...b]], f);
      assertSameOnBlasAndCpu([[1, ...a], [4, ...b]], f);
    },
  );
}

for (const activation of ["relu", "leakyrelu", "sigmoid", "elu", "relu6"]) {
  Deno.test(`fused matMul() with bias and ${activation} and its gradients on blas match cpu`, () => {
    assertSameOnBlasAndCpu([[9, 12], [12, 7], [7]], (a, b, bias) => {
      const forward = (x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) =>
        tf.fused.matMul({
          a: x as tf.Tensor2D,
          b: y as tf.Tensor2D,
          bias: z,
          activation: activation as tf.fused.Activation,
          leakyreluAlpha: 0.3,
        });
      const g = tf.grads((x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) =>
        tf.sum(tf.square(forward(x, y, z)))
      );
      return [forward(a, b, bias), ...g([a, b, bias])];
    });
  });
}

Deno.test("fused matMul() with a non-channel bias and prelu on blas matches cpu", () => {
  assertSameOnBlasAndCpu(
    [[6, 5], [7, 5], [6, 1], [7]],
    (a, b, bias, alpha) =>
      tf.fused.matMul({
        a: a as tf.Tensor2D,
        b: b as tf.Tensor2D,
        transposeB: true,
        bias,
        activation: "prelu",
        preluActivationWeights: alpha,
      }),
  );
});

for (
  const [a, b] of [
    [[64, 14, 14, 8], [1, 1, 1, 8]],
    [[1, 1, 1, 8], [4, 3, 5, 8]],
    [[4, 3, 5, 8], []],
    [[], [4, 3]],
    [[6, 5], [6, 5]],
    [[3, 1, 5], [4, 1]],
    [[2, 3, 4], [3, 1]],
    [[2, 3, 4, 5], [3, 1, 5]],
    [[2, 1, 4, 1], [3, 1, 5]],
  ]
) {
  Deno.test(`broadcasting arithmetic and comparisons on blas match cpu for [${a}] with [${b}]`, () => {
    assertSameOnBlasAndCpu([a, b], (x, y) => [
      tf.add(x, y),
      tf.sub(x, y),
      tf.mul(x, y),
      tf.div(x, tf.add(tf.abs(y), 0.5)),
      tf.maximum(x, y),
      tf.minimum(x, y),
      tf.squaredDifference(x, y),
      ...[
        tf.greater(x, y),
        tf.greaterEqual(x, y),
        tf.less(x, y),
        tf.lessEqual(x, y),
        tf.equal(x, tf.round(y)),
        tf.notEqual(x, y),
      ].map((t) => tf.cast(t, "float32")),
    ], 0);
  });
}

Deno.test("unary kernels and select() on blas match cpu", () => {
  assertSameOnBlasAndCpu([[5, 7, 9], [5, 7, 9]], (x, y) => [
    tf.relu(tf.mul(x, 8)),
    tf.relu6(tf.mul(x, 8)),
    tf.step(x, 0.3),
    tf.sqrt(tf.abs(x)),
    tf.rsqrt(tf.add(tf.abs(x), 0.1)),
    tf.tanh(x),
    tf.sigmoid(x),
    tf.exp(x),
    tf.neg(x),
    tf.clipByValue(x, -0.25, 0.5),
    tf.where(tf.greater(x, y), x, y),
    tf.leakyRelu(x, 0.2),
  ], 1e-6);
});

Deno.test("sum() and mean() over adjacent axes on blas match cpu", () => {
  assertSameOnBlasAndCpu([[4, 6, 5, 8]], (x) => [
    tf.sum(x, [0, 1, 2]),
    tf.mean(x, [0, 1, 2], true),
    tf.sum(x, -1),
    tf.mean(x, [1, 2]),
    tf.sum(x),
    tf.mean(x),
    tf.sum(x, [0, 2]), // not adjacent: the cpu kernel
  ], 1e-5);
});

Deno.test("long sum() and mean() reductions on blas (run in OpenBLAS) match cpu", () => {
  assertSameOnBlasAndCpu([[16, 9, 9, 8], [3, 1500]], (x, y) => [
    tf.sum(x, [0, 1, 2]),
    tf.mean(x, [0, 1, 2], true),
    tf.sum(x),
    tf.mean(y, 1),
    tf.sum(y, -1, true),
  ], 1e-5);
});

Deno.test("tile() on blas matches cpu", () => {
  assertSameOnBlasAndCpu([[1, 1, 1, 8], [2, 3, 4]], (x, y) => [
    tf.tile(x, [4, 3, 5, 1]),
    tf.tile(y, [3, 1, 2]),
    tf.cast(tf.tile(tf.greater(y, 0), [1, 2, 1]), "float32"),
  ], 0);
});

Deno.test("batch normalization and its gradients on blas match cpu", () => {
  assertSameOnBlasAndCpu(
    [[6, 5, 4, 8], [8], [8], [8], [8]],
    (x, mean, variance, offset, scale) => {
      const f = (a: tf.Tensor, s: tf.Tensor, o: tf.Tensor) =>
        tf.batchNorm(a, mean, tf.add(tf.abs(variance), 0.1), o, s, 1e-5);
      const g = tf.grads((a: tf.Tensor, s: tf.Tensor, o: tf.Tensor) =>
        tf.sum(tf.square(f(a, s, o)))
      );
      return [f(x, scale, offset), ...g([x, scale, offset])];
    },
  );
});

Deno.test("Conv2D on blas falls back to the cpu kernel for dilations", () => {
  const inputs = [[1, 9, 9, 2], [3, 3, 2, 3]].map((shape, i) => ({
    shape,
    data: values(shape, i + 1),
  }));
  const f = (x: tf.Tensor, w: tf.Tensor) =>
    tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, "same", "NHWC", 2);
  const expected = runOn("cpu", inputs, f);
  const actual = runOn(BLAS_BACKEND, inputs, f);
  assert.ok(relativeError(actual[0], expected[0]) <= 1e-6);
});

Deno.test("im2col() and col2im() are adjoint: <P(x), c> = <x, col2im(c)>", () => {
  const g: ConvGeometry = {
    inHeight: 7,
    inWidth: 6,
    inChannels: 3,
    outHeight: 4,
    outWidth: 3,
    filterHeight: 3,
    filterWidth: 4,
    strideHeight: 2,
    strideWidth: 2,
    padTop: 1,
    padLeft: 1,
  };
  const batch = 2, taps = 3 * 4 * 3, rows = batch * 4 * 3;
  const x = values([batch, 7, 6, 3], 1), c = values([rows, taps], 2);
  const p = new Float32Array(rows * taps).fill(Number.NaN);
  im2col(x, g, 0, batch, p);
  const dx = new Float32Array(x.length);
  col2im(c, g, 0, batch, dx);
  let left = 0, right = 0;
  for (let i = 0; i < p.length; i++) left += p[i] * c[i];
  for (let i = 0; i < x.length; i++) right += x[i] * dx[i];
  assert.ok(
    Math.abs(left - right) <= 1e-3 * Math.abs(left),
    `${left} ${right}`,
  );
});

Deno.test("sgemm() rejects an operand that does not fit its array", () => {
  const small = new Float32Array(3);
  assert.throws(
    () =>
      sgemm(2, 2, 2, { data: small, ld: 2 }, { data: small, ld: 2 }, {
        data: new Float32Array(4),
        ld: 2,
      }),
    /Expected sgemm operand A/,
  );
});

Deno.test("sgemm() is exact on both sides of the one-thread size and keeps the configured thread count", () => {
  // A long, thin weight-gradient shape (one thread) and a square one (all).
  for (const [m, n, k] of [[16, 64, 4096], [512, 512, 512]]) {
    const a = Float32Array.from({ length: k * m }, (_, i) => (i % 7) - 3);
    const b = Float32Array.from({ length: k * n }, (_, i) => (i % 5) - 2);
    const c = new Float32Array(m * n);
    // C = Aᵀ · B, with A stored [k, m]; small integers keep float32 exact.
    sgemm(m, n, k, { data: a, ld: m }, { data: b, ld: n }, { data: c, ld: n }, {
      transA: true,
    });
    assert.equal(m * n * k < SINGLE_THREAD_MACS, m === 16);
    for (const [i, j] of [[0, 0], [m - 1, n - 1], [m >> 1, 3]]) {
      let sum = 0;
      for (let r = 0; r < k; r++) sum += a[r * m + i] * b[r * n + j];
      assert.equal(c[i * n + j], sum, `${m}x${n}x${k} at ${i},${j}`);
    }
    assert.equal(blasThreads(), 2);
  }
});

Deno.test("blasAvailable() finds OpenBLAS here", () => {
  const result = blasAvailable();
  assert.ok(result.ok, result.ok ? "" : result.reason);
  assert.match(result.path, /blas/);
});

Deno.test("initBlasBackend() makes blas the active backend and keeps tensor counts flat", async () => {
  const info = await initBlasBackend({ threads: 2 });
  assert.equal(tf.getBackend(), BLAS_BACKEND);
  assert.equal(info.threads, 2);
  const x = tf.randomNormal([2, 8, 8, 3]), w = tf.randomNormal([3, 3, 3, 4]);
  const step = () =>
    tf.tidy(() =>
      tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, "same"))
      )([x, w])
    );
  tf.dispose(step());
  const before = tf.memory().numTensors;
  tf.dispose(step());
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, w]);
});

// Batch 2: per-image offsets matter, and the cpu reference stays quick.
for (const batch of [2]) {
  Deno.test(
    `dcgan28 critic and generator forward and backward on blas match cpu at batch ${batch}`,
    () => {
      const options = { arch: "dcgan28" as const, latentDim: 100, seed: 3 };
      const z = values([batch, 100], 5);
      const real = values([batch, 28, 28, 1], 6);
      const results: Float32Array[][] = [];
      for (const backend of ["cpu", BLAS_BACKEND]) {
        tf.setBackend(backend);
        const generator = buildGenerator(options);
        const critic = buildCritic(options);
        const variables = [
          ...generator.trainableWeights,
          ...critic.trainableWeights,
        ].map((w) => w.read() as tf.Variable);
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
              { training: true },
            ) as tf.Tensor;
            return tf.sub(
              tf.mean(fakeScores),
              tf.mean(realScores),
            ) as tf.Scalar;
          }, variables);
          const fake = generator.apply(tf.tensor2d(z, [batch, 100]), {
            training: false,
          }) as tf.Tensor;
          return [value, fake, ...variables.map((v) => grads[v.name])].map((
            t,
          ) => t.dataSync() as Float32Array);
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
}
