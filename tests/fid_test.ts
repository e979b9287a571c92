import assert from "node:assert/strict";
import {
  type FeatureStatistics,
  featureStatistics,
  frechetDistance,
  symmetricEigen,
} from "../lib/fid.ts";
import { Rng } from "../lib/random.ts";

function assertClose(actual: number, expected: number, tolerance: number) {
  assert(
    Math.abs(actual - expected) <= tolerance,
    `expected ${expected}, got ${actual} (tolerance ${tolerance})`,
  );
}

function stats(mean: number[], cov: number[]): FeatureStatistics {
  return { count: 100, dim: mean.length, mean, cov };
}

function diagonal(values: number[]): number[] {
  const n = values.length;
  const out = new Array(n * n).fill(0);
  values.forEach((v, i) => out[i * n + i] = v);
  return out;
}

/** Q diag(values) Qᵀ for a random orthogonal Q (from Gram-Schmidt). */
function rotated(values: number[], q: number[][]): number[] {
  const n = values.length;
  const out = new Array(n * n).fill(0);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      for (let k = 0; k < n; k++) {
        out[i * n + j] += q[k][i] * values[k] * q[k][j];
      }
    }
  }
  return out;
}

function randomOrthonormalRows(n: number, rng: Rng): number[][] {
  const rows: number[][] = [];
  while (rows.length < n) {
    const v = Array.from({ length: n }, () => rng.next() - 0.5);
    for (const r of rows) {
      const dot = r.reduce((s, x, i) => s + x * v[i], 0);
      r.forEach((x, i) => v[i] -= dot * x);
    }
    const norm = Math.hypot(...v);
    rows.push(v.map((x) => x / norm));
  }
  return rows;
}

Deno.test("frechetDistance() matches the closed form for diagonal covariances", () => {
  const rng = new Rng(3);
  const n = 7;
  const mu1 = Array.from({ length: n }, () => rng.next() * 4 - 2);
  const mu2 = Array.from({ length: n }, () => rng.next() * 4 - 2);
  const a = Array.from({ length: n }, () => rng.next() * 3);
  const b = Array.from({ length: n }, () => rng.next() * 3);
  let expected = 0;
  for (let i = 0; i < n; i++) {
    expected += (mu1[i] - mu2[i]) ** 2 +
      (Math.sqrt(a[i]) - Math.sqrt(b[i])) ** 2;
  }
  const d = frechetDistance(stats(mu1, diagonal(a)), stats(mu2, diagonal(b)));
  assertClose(d, expected, 1e-9 * Math.max(1, expected));
});

Deno.test("frechetDistance() matches the closed form for commuting non-diagonal covariances", () => {
  const rng = new Rng(11);
  const n = 6;
  const q = randomOrthonormalRows(n, rng);
  const a = Array.from({ length: n }, () => 0.1 + rng.next() * 2);
  const b = Array.from({ length: n }, () => 0.1 + rng.next() * 2);
  const mu = Array.from({ length: n }, () => rng.next());
  let expected = mu.reduce((s, x) => s + x * x, 0);
  for (let i = 0; i < n; i++) {
    expected += (Math.sqrt(a[i]) - Math.sqrt(b[i])) ** 2;
  }
  const d = frechetDistance(
    stats(mu, rotated(a, q)),
    stats(new Array(n).fill(0), rotated(b, q)),
  );
  assertClose(d, expected, 1e-9);
});

Deno.test("frechetDistance() matches an independent 2x2 computation for non-commuting covariances", () => {
  // For 2x2 S1 S2 with eigenvalues l1, l2: Tr((S1 S2)^1/2) = sqrt(l1) + sqrt(l2)
  // = sqrt(tr(S1 S2) + 2 sqrt(det S1 det S2)).
  const s1 = [2, 0.8, 0.8, 1];
  const s2 = [0.5, -0.3, -0.3, 3];
  const mu1 = [1, -2];
  const mu2 = [0.5, 0.25];
  const trProduct = s1[0] * s2[0] + s1[1] * s2[2] + s1[2] * s2[1] +
    s1[3] * s2[3];
  const det = (m: number[]) => m[0] * m[3] - m[1] * m[2];
  const traceRoot = Math.sqrt(trProduct + 2 * Math.sqrt(det(s1) * det(s2)));
  const expected = (mu1[0] - mu2[0]) ** 2 + (mu1[1] - mu2[1]) ** 2 +
    s1[0] + s1[3] + s2[0] + s2[3] - 2 * traceRoot;
  const d = frechetDistance(stats(mu1, s1), stats(mu2, s2));
  assertClose(d, expected, 1e-10);
  assert(Math.abs(d - frechetDistance(stats(mu2, s2), stats(mu1, s1))) < 1e-10);
});

Deno.test("frechetDistance() of a feature set with itself is about 0, and grows with a shift", () => {
  const rng = new Rng(5);
  const dim = 32;
  const features = new Float32Array(400 * dim);
  // Correlated, partly singular features like ReLU outputs: some columns always 0.
  for (let r = 0; r < 400; r++) {
    const shared = rng.next();
    for (let i = 0; i < dim; i++) {
      features[r * dim + i] = i % 5 === 0
        ? 0
        : Math.max(0, shared + rng.next() - 0.7);
    }
  }
  const s = featureStatistics(features, dim);
  const self = frechetDistance(s, s);
  assert(self >= 0 && self < 1e-8, `expected ~0, got ${self}`);
  const shifted = { ...s, mean: s.mean.map((m) => m + 0.1) };
  assertClose(frechetDistance(s, shifted), dim * 0.01, 1e-8);
});

Deno.test("featureStatistics() gives the mean and the unbiased covariance", () => {
  // Rows (1, 2), (3, 6), (5, 7): means 3 and 5.
  const s = featureStatistics([1, 2, 3, 6, 5, 7], 2);
  assert.deepEqual(s.mean, [3, 5]);
  // var x = (4 + 0 + 4) / 2 = 4; var y = (9 + 1 + 4) / 2 = 7; cov = (6 + 0 + 4) / 2 = 5
  [4, 5, 5, 7].forEach((v, i) => assertClose(s.cov[i], v, 1e-12));
  assert.equal(s.count, 3);
});

Deno.test("featureStatistics() rejects ragged rows and a single vector", () => {
  assert.throws(() => featureStatistics([1, 2, 3], 2), /rows of 2 features/);
  assert.throws(() => featureStatistics([1, 2], 2), /at least 2/);
});

Deno.test("symmetricEigen() reconstructs a random symmetric matrix as V diag(values) Vᵀ", () => {
  const rng = new Rng(9);
  const n = 24;
  const a = new Array(n * n).fill(0);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      a[i * n + j] = a[j * n + i] = rng.next() * 2 - 1;
    }
  }
  const { values, vectors } = symmetricEigen(a, n);
  let maxError = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let k = 0; k < n; k++) {
        sum += vectors[i * n + k] * values[k] * vectors[j * n + k];
      }
      maxError = Math.max(maxError, Math.abs(sum - a[i * n + j]));
    }
  }
  assert(maxError < 1e-10, `reconstruction error ${maxError}`);
});

Deno.test("frechetDistance() rejects statistics of different widths", () => {
  assert.throws(
    () => frechetDistance(stats([0], [1]), stats([0, 0], diagonal([1, 1]))),
    /same feature width/,
  );
});
