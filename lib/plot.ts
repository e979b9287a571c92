/**
 * Loss curves as a self-contained SVG: the Wasserstein estimate (raw and
 * median-filtered with a window of 101, as in the paper's figures) and the
 * generator loss, against generator iterations.
 *
 * @module
 */
import { writeFileAtomic } from "./atomic.ts";
import { type LossRecord, readLosses } from "./training.ts";

/**
 * Median filter with an odd `window`, shrinking at the ends.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { medianFilter } from "./plot.ts";
 * assert.ok(medianFilter([1, 9, 2, 3, 4], 3).join() === "5,2,3,3,3.5");
 * ```
 */
export function medianFilter(values: number[], window: number): number[] {
  const half = Math.floor(window / 2);
  return values.map((_, i) => {
    const slice = values.slice(Math.max(0, i - half), i + half + 1)
      .sort((a, b) => a - b);
    const mid = slice.length >> 1;
    return slice.length % 2 ? slice[mid] : (slice[mid - 1] + slice[mid]) / 2;
  });
}

function niceTicks(min: number, max: number, count: number): number[] {
  if (min === max) return [min];
  const raw = (max - min) / count;
  const step = 10 ** Math.floor(Math.log10(raw));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => s >= raw) ??
    10 * step;
  const ticks: number[] = [];
  for (let t = Math.ceil(min / nice) * nice; t <= max + 1e-12; t += nice) {
    ticks.push(Number(t.toPrecision(12)));
  }
  return ticks;
}

function formatTick(v: number): string {
  return Math.abs(v) >= 1e6 || (Math.abs(v) < 1e-3 && v !== 0)
    ? v.toExponential(1)
    : String(Number(v.toPrecision(4)));
}

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** A curve: values at generator iterations. */
interface Series {
  label: string;
  color: string;
  x: number[];
  values: number[];
  width: number;
}

interface Panel {
  title: string;
  yLabel: string;
  series: Series[];
}

/**
 * Indices of the points worth drawing when `x` (ascending) spans `columns`
 * pixel columns: in each column, the lowest and the highest value, in order.
 * Spikes stay visible and the SVG stays small however long the run.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decimate } from "./plot.ts";
 * const x = [1, 2, 3, 4, 5, 6], y = [0, 5, 1, 1, 9, 2];
 * assert.ok(decimate(x, y, 2).join() === "0,1,3,4");
 * ```
 */
export function decimate(x: number[], y: number[], columns: number): number[] {
  if (x.length <= 2 * columns) return x.map((_, i) => i);
  const x0 = x[0], span = x[x.length - 1] - x0 || 1;
  const kept: number[] = [];
  let column = -1, lo = -1, hi = -1;
  const close = () => {
    if (lo < 0) return;
    if (lo === hi) kept.push(lo);
    else kept.push(Math.min(lo, hi), Math.max(lo, hi));
  };
  x.forEach((xi, i) => {
    const c = Math.min(columns - 1, Math.floor(((xi - x0) / span) * columns));
    if (c !== column) {
      close();
      column = c;
      lo = hi = i;
    }
    if (!(y[i] >= y[lo])) lo = i; // NaN counts as low, so it is drawn
    if (y[i] > y[hi]) hi = i;
  });
  close();
  return kept;
}

function panelSvg(
  panel: Panel,
  xRange: [number, number],
  x0: number,
  y0: number,
  w: number,
  h: number,
): string {
  const all = panel.series.flatMap((s) => s.values).filter(Number.isFinite);
  let lo = Math.min(...all), hi = Math.max(...all);
  if (!Number.isFinite(lo)) lo = hi = 0;
  if (lo === hi) {
    lo -= 1;
    hi += 1;
  }
  const [xMin, xMax] = xRange;
  const sx = (x: number) =>
    x0 + (xMax === xMin ? w / 2 : ((x - xMin) / (xMax - xMin)) * w);
  const sy = (y: number) => y0 + h - ((y - lo) / (hi - lo)) * h;
  const parts: string[] = [];
  parts.push(
    `<text x="${x0 + w / 2}" y="${
      y0 - 10
    }" text-anchor="middle" font-size="14" font-weight="bold">${
      escapeXml(panel.title)
    }</text>`,
    `<text transform="translate(20,${
      y0 + h / 2
    }) rotate(-90)" text-anchor="middle" font-size="12">${
      escapeXml(panel.yLabel)
    }</text>`,
  );
  parts.push(
    `<rect x="${x0}" y="${y0}" width="${w}" height="${h}" fill="none" stroke="#888"/>`,
  );
  for (const t of niceTicks(lo, hi, 5)) {
    parts.push(
      `<line x1="${x0}" x2="${x0 + w}" y1="${sy(t)}" y2="${
        sy(t)
      }" stroke="#eee"/><text x="${x0 - 6}" y="${
        sy(t) + 4
      }" text-anchor="end" font-size="11">${formatTick(t)}</text>`,
    );
  }
  for (const t of niceTicks(xMin, xMax, 6)) {
    parts.push(
      `<text x="${sx(t)}" y="${
        y0 + h + 16
      }" text-anchor="middle" font-size="11">${formatTick(t)}</text>`,
    );
  }
  parts.push(
    `<text x="${x0 + w / 2}" y="${
      y0 + h + 34
    }" text-anchor="middle" font-size="12">generator iterations</text>`,
  );
  panel.series.forEach((s, k) => {
    const points = decimate(s.x, s.values, Math.ceil(w)).map((i) =>
      `${sx(s.x[i]).toFixed(1)},${sy(s.values[i]).toFixed(1)}`
    ).join(" ");
    parts.push(
      `<polyline class="series" data-label="${
        escapeXml(s.label)
      }" fill="none" stroke="${s.color}" stroke-width="${s.width}" points="${points}"/>`,
    );
    parts.push(
      `<line x1="${x0 + w - 190}" x2="${x0 + w - 170}" y1="${
        y0 + 16 + 16 * k
      }" y2="${y0 + 16 + 16 * k}" stroke="${s.color}" stroke-width="3"/>` +
        `<text x="${x0 + w - 165}" y="${y0 + 20 + 16 * k}" font-size="11">${
          escapeXml(s.label)
        }</text>`,
    );
  });
  return parts.join("\n");
}

/**
 * Renders loss records as an SVG with two panels: the Wasserstein estimate
 * (raw and median-filtered, window 101) and the generator loss, and a third,
 * the FID, when records carry one (`--eval-every`). Long runs are drawn at
 * the plot's resolution ({@link decimate}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lossPlotSvg } from "./plot.ts";
 * const svg = lossPlotSvg([
 *   { iteration: 1, criticLoss: -0.2, generatorLoss: 0.1, wassersteinEstimate: 0.2, ms: 1 },
 *   { iteration: 2, criticLoss: -0.1, generatorLoss: 0.1, wassersteinEstimate: 0.1, ms: 1 },
 * ]);
 * assert.ok(svg.startsWith("<svg"));
 * ```
 */
export function lossPlotSvg(records: LossRecord[]): string {
  const iterations = records.map((r) => r.iteration);
  const w = records.map((r) => r.wassersteinEstimate);
  const evaluated = records.filter((r) => r.fid !== undefined);
  const panels: Panel[] = [
    {
      title:
        "Wasserstein estimate (−critic loss): should fall as samples improve",
      yLabel: "Wasserstein estimate",
      series: [
        { label: "raw", color: "#9ecae1", x: iterations, values: w, width: 1 },
        {
          label: "median filter, window 101",
          color: "#08519c",
          x: iterations,
          values: medianFilter(w, 101),
          width: 2,
        },
      ],
    },
    {
      title: "Generator loss (−mean critic score of fakes)",
      yLabel: "generator loss",
      series: [{
        label: "generator loss",
        color: "#d94801",
        x: iterations,
        values: records.map((r) => r.generatorLoss),
        width: 1,
      }],
    },
  ];
  if (evaluated.length > 0) {
    panels.push({
      title: "FID of 1,000 samples (classifier features): lower is better",
      yLabel: "FID",
      series: [{
        label: "FID",
        color: "#238b45",
        x: evaluated.map((r) => r.iteration),
        values: evaluated.map((r) => r.fid!),
        width: 2,
      }],
    });
  }
  const width = 900, left = 80, plotWidth = width - left - 30;
  const panelHeight = 220, pitch = 310;
  const height = 40 + pitch * panels.length - 30;
  const xRange: [number, number] = [
    iterations[0] ?? 0,
    iterations[iterations.length - 1] ?? 1,
  ];
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    ...panels.map((panel, i) =>
      panelSvg(panel, xRange, left, 40 + pitch * i, plotWidth, panelHeight)
    ),
    `</svg>`,
  ].join("\n") + "\n";
}

/** Redraws `out/losses.svg` from `out/losses.jsonl`. */
export async function writeLossPlot(out: string): Promise<void> {
  const records = await readLosses(`${out}/losses.jsonl`);
  await writeFileAtomic(`${out}/losses.svg`, lossPlotSvg(records));
}
