/**
 * Redraws a run's loss curves, `DIR/losses.svg`, from `DIR/losses.jsonl`.
 *
 *   deno task plot runs/a
 *
 * @module
 */
import { writeLossPlot } from "./lib/plot.ts";

const [dir, ...rest] = Deno.args;
if (!dir || rest.length > 0 || dir.startsWith("-")) {
  console.error("usage: deno task plot DIR   (a training output folder)");
  Deno.exit(2);
}
try {
  await Deno.stat(`${dir}/losses.jsonl`);
} catch {
  console.error(
    `error: ${dir}/losses.jsonl: expected a training output folder`,
  );
  Deno.exit(1);
}
await writeLossPlot(dir);
console.log(`wrote ${dir}/losses.svg`);
