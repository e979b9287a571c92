/**
 * The Fréchet distance between two Gaussians fitted to feature vectors (the
 * "FID" of Heusel et al. 2017, here on the domain classifier's features):
 *
 *   d² = ||mu1 - mu2||² + Tr(S1 + S2 - 2 (S1 S2)^{1/2})
 *
 * computed in float64 with a symmetric eigendecomposition (cyclic Jacobi), using
 * Tr((S1 S2)^{1/2}) = Σ sqrt(eig(sqrt(S1) S2 sqrt(S1))), which stays real and
 * stable for singular (positive semi-definite) covariances.
 *
 * @module
 */

/** Mean and covariance of a set of feature vectors. */
export interface FeatureStatistics {
  /** Number of vectors the statistics were computed from. */
  count: number;
  /** Feature width d. */
  dim: number;
  /** Mean, length d. */
  mean: number[];
  /** Covariance (denominator count - 1), row-major d x d. */
  cov: number[];
}

/**
 * Mean and unbiased covariance of `count` feature vectors of width `dim`,
 * stored row after row in `features`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { featureStatistics } from "./fid.ts";
 * const s = featureStatistics(new Float32Array([0, 0, 2, 2]), 2);
 * assert.ok(s.mean[0] === 1 && s.cov[0] === 2);
 * ```
 */
export function featureStatistics(
  features: ArrayLike<number>,
  dim: number,
): FeatureStatistics {
  if (!(Number.isInteger(dim) && dim > 0) || features.length % dim !== 0) {
    throw new Error(
      `Expected rows of ${dim} features, got ${features.length} values`,
    );
  }
  const count = features.length / dim;
  if (count < 2) {
    throw new Error(
      `Expected at least 2 feature vectors for a covariance, got ${count}`,
    );
  }
  const mean = new Float64Array(dim);
  for (let r = 0; r < count; r++) {
    for (let i = 0; i < dim; i++) mean[i] += features[r * dim + i];
  }
  for (let i = 0; i < dim; i++) mean[i] /= count;
  const cov = new Float64Array(dim * dim);
  const centred = new Float64Array(dim);
  for (let r = 0; r < count; r++) {
    for (let i = 0; i < dim; i++) centred[i] = features[r * dim + i] - mean[i];
    for (let i = 0; i < dim; i++) {
      const ci = centred[i];
      if (ci === 0) continue;
      const row = i * dim;
      for (let j = i; j < dim; j++) cov[row + j] += ci * centred[j];
    }
  }
  for (let i = 0; i < dim; i++) {
    for (let j = i; j < dim; j++) {
      const v = cov[i * dim + j] / (count - 1);
      cov[i * dim + j] = v;
      cov[j * dim + i] = v;
    }
  }
  return { count, dim, mean: Array.from(mean), cov: Array.from(cov) };
}

/**
 * Eigendecomposition of a symmetric matrix (row-major n x n) by the cyclic
 * Jacobi method: returns the eigenvalues and the eigenvectors as the columns
 * of a row-major matrix, so that A = V diag(values) Vᵀ.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { symmetricEigen } from "./fid.ts";
 * const { values } = symmetricEigen([2, 1, 1, 2], 2);
 * assert.ok(Math.abs(Math.min(...values) - 1) < 1e-12);
 * ```
 */
export function symmetricEigen(
  matrix: ArrayLike<number>,
  n: number,
): { values: number[]; vectors: Float64Array } {
  if (matrix.length !== n * n) {
    throw new Error(
      `Expected a ${n}x${n} matrix (${n * n} values), got ${matrix.length}`,
    );
  }
  const a = Float64Array.from(matrix);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale += a[i] * a[i];
  const tolerance = 1e-30 * Math.max(scale, 1e-300);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) off += a[p * n + q] * a[p * n + q];
    }
    if (off <= tolerance) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        const app = a[p * n + p];
        const aqq = a[q * n + q];
        // Rotation angle that zeroes a[p][q] (Golub & Van Loan, Alg. 8.4.1).
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) /
          (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          // columns p and q of A
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          // rows p and q of A
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values: number[] = [];
  for (let i = 0; i < n; i++) values.push(a[i * n + i]);
  return { values, vectors: v };
}

/** Square root of a symmetric positive semi-definite matrix (negative eigenvalues clamped to 0). */
function sqrtPsd(matrix: ArrayLike<number>, n: number): Float64Array {
  const { values, vectors } = symmetricEigen(matrix, n);
  const roots = values.map((x) => Math.sqrt(Math.max(x, 0)));
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let sum = 0;
      for (let k = 0; k < n; k++) {
        sum += vectors[i * n + k] * roots[k] * vectors[j * n + k];
      }
      out[i * n + j] = sum;
      out[j * n + i] = sum;
    }
  }
  return out;
}

function multiply(a: ArrayLike<number>, b: ArrayLike<number>, n: number) {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k];
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j] += aik * b[k * n + j];
    }
  }
  return out;
}

/**
 * Fréchet distance ||mu1 - mu2||² + Tr(S1 + S2 - 2 (S1 S2)^{1/2}) between the
 * Gaussians described by two {@link FeatureStatistics} of the same width.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { frechetDistance } from "./fid.ts";
 * const a = { count: 10, dim: 1, mean: [0], cov: [4] };
 * const b = { count: 10, dim: 1, mean: [3], cov: [1] };
 * // 3² + (2 - 1)² = 10
 * assert.ok(Math.abs(frechetDistance(a, b) - 10) < 1e-9);
 * ```
 */
export function frechetDistance(
  a: FeatureStatistics,
  b: FeatureStatistics,
): number {
  const n = a.dim;
  if (b.dim !== n) {
    throw new Error(
      `Expected statistics of the same feature width, got ${n} and ${b.dim}`,
    );
  }
  let meanTerm = 0;
  for (let i = 0; i < n; i++) meanTerm += (a.mean[i] - b.mean[i]) ** 2;
  let trace = 0;
  for (let i = 0; i < n; i++) trace += a.cov[i * n + i] + b.cov[i * n + i];
  const rootA = sqrtPsd(a.cov, n);
  const middle = multiply(multiply(rootA, b.cov, n), rootA, n);
  // Symmetrise against rounding before the symmetric eigensolver.
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const m = (middle[i * n + j] + middle[j * n + i]) / 2;
      middle[i * n + j] = m;
      middle[j * n + i] = m;
    }
  }
  const { values } = symmetricEigen(middle, n);
  let traceRoot = 0;
  for (const x of values) traceRoot += Math.sqrt(Math.max(x, 0));
  // Clamp the rounding error of a set compared with itself.
  return Math.max(meanTerm + trace - 2 * traceRoot, 0);
}
