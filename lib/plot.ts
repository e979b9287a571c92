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
 * import { medianFilter } from "./plot.ts";
 * console.assert(medianFilter([1, 9, 2, 3, 4], 3).join() === "5,2,3,3,3.5");
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
  return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0)
    ? v.toExponential(1)
    : String(Number(v.toPrecision(4)));
}

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

interface Panel {
  title: string;
  series: { label: string; color: string; values: number[]; width: number }[];
}

function panelSvg(
  panel: Panel,
  iterations: number[],
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
  const xMin = iterations[0] ?? 0,
    xMax = iterations[iterations.length - 1] ?? 1;
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
    const points = s.values.map((v, i) =>
      `${sx(iterations[i]).toFixed(1)},${sy(v).toFixed(1)}`
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
 * (raw and median-filtered, window 101) and the generator loss.
 *
 * @example
 * ```ts
 * import { lossPlotSvg } from "./plot.ts";
 * const svg = lossPlotSvg([
 *   { iteration: 1, criticLoss: -0.2, generatorLoss: 0.1, wassersteinEstimate: 0.2, ms: 1 },
 *   { iteration: 2, criticLoss: -0.1, generatorLoss: 0.1, wassersteinEstimate: 0.1, ms: 1 },
 * ]);
 * console.assert(svg.startsWith("<svg"));
 * ```
 */
export function lossPlotSvg(records: LossRecord[]): string {
  const width = 900, height = 620;
  const iterations = records.map((r) => r.iteration);
  const w = records.map((r) => r.wassersteinEstimate);
  const g = records.map((r) => r.generatorLoss);
  const left = 80, plotWidth = width - left - 30;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    panelSvg(
      {
        title:
          "Wasserstein estimate (−critic loss): should fall as samples improve",
        series: [
          { label: "raw", color: "#9ecae1", values: w, width: 1 },
          {
            label: "median filter, window 101",
            color: "#08519c",
            values: medianFilter(w, 101),
            width: 2,
          },
        ],
      },
      iterations,
      left,
      40,
      plotWidth,
      220,
    ),
    panelSvg(
      {
        title: "Generator loss (−mean critic score of fakes)",
        series: [{
          label: "generator loss",
          color: "#d94801",
          values: g,
          width: 1,
        }],
      },
      iterations,
      left,
      350,
      plotWidth,
      220,
    ),
    `<text transform="translate(20,150) rotate(-90)" text-anchor="middle" font-size="12">Wasserstein estimate</text>`,
    `<text transform="translate(20,460) rotate(-90)" text-anchor="middle" font-size="12">generator loss</text>`,
    `</svg>`,
  ].join("\n") + "\n";
}

/** Redraws `out/losses.svg` from `out/losses.jsonl`. */
export async function writeLossPlot(out: string): Promise<void> {
  const records = await readLosses(`${out}/losses.jsonl`);
  await writeFileAtomic(`${out}/losses.svg`, lossPlotSvg(records));
}
