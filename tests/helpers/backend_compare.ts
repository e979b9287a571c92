/**
 * Comparing a backend's kernels against TF.js's cpu backend, the reference:
 * the same function on the same inputs, outputs within a relative tolerance.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import { Rng } from "../../lib/random.ts";

/** Deterministic values in [-1, 1). */
export function values(shape: number[], seed: number): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < out.length; i++) out[i] = rng.next() * 2 - 1;
  return out;
}

/** Runs `f` on fresh tensors made from `inputs` under `backend`; returns the outputs' values. */
export function runOn(
  backend: string,
  inputs: { shape: number[]; data: Float32Array }[],
  f: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[],
): Float32Array[] {
  tf.setBackend(backend);
  return tf.tidy(() => {
    const xs = inputs.map(({ shape, data }) => tf.tensor(data, shape));
    const out = f(...xs);
    return (Array.isArray(out) ? out : [out]).map((t) =>
      t.dataSync() as Float32Array
    );
  });
}

/** max |a − b| relative to the reference's largest magnitude. */
export function relativeError(
  actual: Float32Array,
  expected: Float32Array,
): number {
  assert.equal(actual.length, expected.length);
  let diff = 0, scale = 1e-6;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / scale;
}

/**
 * Runs `f` on cpu and, through `runBackend` (default: plainly on `backend`), on
 * the backend under test; asserts that every output agrees within `tolerance`.
 */
export function assertSameAsCpu(
  backend: string,
  inputShapes: number[][],
  f: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[],
  tolerance = 1e-5,
  runBackend: (run: () => Float32Array[]) => Float32Array[] = (run) => run(),
): void {
  const inputs = inputShapes.map((shape, i) => ({
    shape,
    data: values(shape, 17 + i),
  }));
  const expected = runOn("cpu", inputs, f);
  const actual = runBackend(() => runOn(backend, inputs, f));
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    const err = relativeError(actual[i], expected[i]);
    assert.ok(err <= tolerance, `output ${i}: relative error ${err}`);
  }
}

/** Padding as `tf.conv2d` takes it. */
export type Pad = "same" | "valid" | [[number, number], [number, number], [
  number,
  number,
], [number, number]];

/** One convolution shape to check a backend's kernels on. */
export interface ConvCase {
  name: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number | [number, number];
  pad: Pad;
}

/** The output shape `[B, OH, OW, Co]` of a {@link ConvCase}. */
export function convOutShape(c: ConvCase): number[] {
  return tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad)
    .outShape;
}

/**
 * Registers one test per case and convolution gradient kernel
 * (`Conv2DBackpropFilter`, `Conv2DBackpropInput`): `assertSame` runs the
 * kernel on the backend under test and on cpu and compares.
 */
export function testConvGradientKernels(
  backend: string,
  cases: ConvCase[],
  assertSame: (
    inputShapes: number[][],
    f: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[],
  ) => void,
): void {
  for (const c of cases) {
    Deno.test(`Conv2DBackpropFilter on ${backend} matches cpu: ${c.name}`, () => {
      assertSame(
        [c.x, convOutShape(c)],
        (x, dy) =>
          tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, {
            strides: c.strides,
            pad: c.pad,
            dataFormat: "NHWC",
            filterShape: c.filter,
          } as unknown as tf.NamedAttrMap) as tf.Tensor,
      );
    });

    Deno.test(`Conv2DBackpropInput on ${backend} matches cpu: ${c.name}`, () => {
      assertSame(
        [convOutShape(c), c.filter],
        (dy, filter) =>
          tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter }, {
            inputShape: c.x,
            strides: c.strides,
            pad: c.pad,
            dataFormat: "NHWC",
          } as unknown as tf.NamedAttrMap) as tf.Tensor,
      );
    });
  }
}
