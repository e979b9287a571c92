/**
 * Copies a training run's generator into `fixtures/generator/` (the model
 * `deno task serve` uses by default) with a provenance file saying how it was
 * made.
 *
 *   deno run -R -W scripts/ship_generator.ts --run runs/shipped \
 *     --command "deno task train ..." [--command "deno task train --resume ..."] \
 *     [--checkpoint iter_NNNNNN] [--eval eval.json]
 *
 * Without --checkpoint, the run's newest checkpoint is shipped.
 */
import { parseArgs } from "node:util";
import { writeFileAtomic } from "../lib/atomic.ts";
import { readCheckpoint, readLatestCheckpoint } from "../lib/checkpoint.ts";
import { readLosses } from "../lib/training.ts";
import { medianFilter } from "../lib/plot.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    run: { type: "string" },
    command: { type: "string", multiple: true },
    backend: { type: "string" },
    checkpoint: { type: "string" },
    eval: { type: "string" },
    to: { type: "string", default: "fixtures/generator" },
  },
  strict: true,
});
if (!values.run || !values.command?.length) {
  console.error(
    "usage: ship_generator.ts --run DIR --command CMD [--command CMD] [--backend NAME] [--eval FILE]",
  );
  Deno.exit(2);
}
const run = values.run;
const checkpoint = values.checkpoint
  ? await readCheckpoint(`${run}/checkpoints/${values.checkpoint}`)
  : await readLatestCheckpoint(`${run}/checkpoints`);
// The losses up to the shipped iteration (the run may have gone on).
const losses = (await readLosses(`${run}/losses.jsonl`)).filter((r) =>
  r.iteration <= checkpoint.state.iteration
);
const w = losses.map((r) => r.wassersteinEstimate);
const smoothed = medianFilter(w, 101);
await Deno.mkdir(values.to!, { recursive: true });
for (const file of ["model.json", "weights.bin"]) {
  await writeFileAtomic(
    `${values.to}/${file}`,
    await Deno.readFile(`${checkpoint.dir}/generator/${file}`),
  );
}
const provenance = {
  commands: values.command,
  arch: checkpoint.state.config.arch,
  config: checkpoint.state.config,
  iterations: checkpoint.state.iteration,
  wallTimeSeconds: Math.round(checkpoint.state.elapsedMs / 1000),
  backend: values.backend ?? checkpoint.state.config.backend,
  wassersteinEstimate: w[w.length - 1],
  wassersteinEstimateMedian101: smoothed[smoothed.length - 1],
  data: "Fashion-MNIST training set, 60,000 images",
  ...(values.eval
    ? { eval: JSON.parse(await Deno.readTextFile(values.eval)) }
    : {}),
  untrained: false,
};
await writeFileAtomic(
  `${values.to}/PROVENANCE.json`,
  JSON.stringify(provenance, null, 2) + "\n",
);
console.log(
  `shipped ${run} at iteration ${provenance.iterations} to ${values.to}`,
);
