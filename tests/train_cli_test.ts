import assert from "node:assert/strict";
import { readModelArtifacts } from "../lib/model_io.ts";
import { readLosses } from "../lib/training.ts";
import { encodeIdx, gzip } from "../lib/idx.ts";
import { tempDir } from "./helpers.ts";

const TRAIN = new URL("../train.ts", import.meta.url).pathname;
// A small, fast configuration for the CLI's own behaviour (the algorithm is tested elsewhere).
const SMALL = [
  "--arch",
  "mlp",
  "--backend",
  "cpu",
  "--batch",
  "4",
  "--latent-dim",
  "8",
];

async function train(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", TRAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { FASHION_MNIST_DIR: "" },
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

function oneLineError(stderr: string): string {
  const lines = stderr.trim().split("\n").filter((l) =>
    !l.startsWith("Run with --help")
  );
  assert.equal(lines.length, 1, `expected one error line, got:\n${stderr}`);
  assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
  return lines[0];
}

async function weights(dir: string): Promise<Float32Array> {
  return new Float32Array(
    (await readModelArtifacts(dir)).weightData as ArrayBuffer,
  );
}

Deno.test("train.ts --help lists every flag and exits 0", async () => {
  const { code, stdout } = await train(["--help"]);
  assert.equal(code, 0);
  for (
    const flag of [
      "--iterations",
      "--batch",
      "--lr",
      "--clip",
      "--n-critic",
      "--latent-dim",
      "--arch",
      "--backend",
      "--seed",
      "--data",
      "--out",
      "--sample-every",
      "--resume",
      "--checkpoint-every",
      "--keep",
      "--critic-warmup",
      "--eval-every",
    ]
  ) {
    assert.ok(stdout.includes(flag), flag);
  }
});

Deno.test("train.ts rejects unknown flags and bad values with one line and exit code 2", async () => {
  for (
    const [args, pattern] of [
      [["--iteration", "3"], /Unknown option '--iteration'/],
      [
        ["--batch", "abc"],
        /--batch: expected a non-negative integer, got "abc"/,
      ],
      [["--lr", "fast"], /--lr: expected a number/],
      [["--arch", "resnet"], /arch to be one of dcgan28, dcgan64, mlp/],
      [["--backend", "cuda"], /backend to be one of webgpu, cpu, wasm/],
      [["--clip=-1"], /Expected clip to be a positive number, got -1/],
      [["--iterations", "0"], /iterations to be a positive integer/],
    ] as const
  ) {
    const { code, stderr } = await train([...args]);
    assert.equal(code, 2, `${args.join(" ")}: ${stderr}`);
    assert.match(oneLineError(stderr), pattern);
  }
});

Deno.test("train.ts reports missing or corrupt data in one line with exit code 1", async () => {
  const dir = await tempDir();
  let r = await train([...SMALL, "--data", dir, "--out", `${dir}/out`]);
  assert.equal(r.code, 1);
  assert.match(oneLineError(r.stderr), /expected train-images-idx3-ubyte.gz/);
  await Deno.writeFile(
    `${dir}/train-images-idx3-ubyte.gz`,
    await gzip(encodeIdx(2049, [3], new Uint8Array(3))),
  );
  r = await train([...SMALL, "--data", dir, "--out", `${dir}/out`]);
  assert.equal(r.code, 1);
  assert.match(
    oneLineError(r.stderr),
    /train-images-idx3-ubyte.gz: expected IDX magic 2051, got 2049/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("train.ts --iterations 3 writes everything, with the critic clipped and the generator not", async () => {
  const out = await tempDir();
  const { code, stdout, stderr } = await train([
    ...SMALL,
    "--iterations",
    "3",
    "--sample-every",
    "2",
    "--out",
    out,
  ]);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /data: \d+ images from .* \((debian|fixtures|cache)\)/);
  assert.match(
    stdout,
    /iter 3\/3: W [-\d.e+]+, G loss [-\d.e+]+, \d+ ms\/iter/,
  );
  const critic = await weights(`${out}/critic`);
  assert.ok(
    critic.every((w) => Math.abs(w) <= 0.01 + 1e-9),
    "critic within [-0.01, 0.01]",
  );
  const generator = await weights(`${out}/generator`);
  assert.ok(generator.some((w) => Math.abs(w) > 0.01), "generator not clipped");
  assert.deepEqual(
    (await readLosses(`${out}/losses.jsonl`)).map((r) => r.iteration),
    [1, 2, 3],
  );
  const config = JSON.parse(await Deno.readTextFile(`${out}/config.json`));
  assert.equal(config.nCritic, 5);
  assert.equal(config.clip, 0.01);
  for (
    const f of [
      "samples/iter_000002.png",
      "samples/iter_000003.png",
      "losses.svg",
    ]
  ) {
    await Deno.stat(`${out}/${f}`);
  }
  await Deno.remove(out, { recursive: true });
});

Deno.test("train.ts killed with SIGKILL resumes from its last checkpoint without gaps or repeats", async () => {
  const out = await tempDir();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      TRAIN,
      ...SMALL,
      "--iterations",
      "200",
      "--checkpoint-every",
      "1",
      "--out",
      out,
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  // Wait for a few checkpoints, then kill without warning.
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const names = await Array.fromAsync(Deno.readDir(`${out}/checkpoints`))
      .catch(() => []);
    if (
      names.some((e) => e.name >= "iter_000003" && e.name.startsWith("iter_"))
    ) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGKILL");
  await child.status;
  const { code, stderr, stdout } = await train([
    "--resume",
    "--out",
    out,
    "--iterations",
    "6",
    "--backend",
    "cpu",
  ]);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /resumed at iteration \d+/);
  const iterations = (await readLosses(`${out}/losses.jsonl`)).map((r) =>
    r.iteration
  );
  assert.deepEqual(iterations, [1, 2, 3, 4, 5, 6].slice(0, iterations.length));
  assert.equal(iterations.length >= 6, true, `iterations: ${iterations}`);
  await readModelArtifacts(`${out}/generator`);
  await readModelArtifacts(`${out}/critic`);
  await Deno.remove(out, { recursive: true });
});

Deno.test("train.ts --resume rejects flags that disagree with the saved run", async () => {
  const out = await tempDir();
  assert.equal(
    (await train([...SMALL, "--iterations", "1", "--out", out])).code,
    0,
  );
  const r = await train([
    "--resume",
    "--out",
    out,
    "--iterations",
    "2",
    "--lr",
    "0.001",
  ]);
  assert.equal(r.code, 2);
  assert.match(
    oneLineError(r.stderr),
    /lr is 0.00005 in .*config.json, got 0.001/,
  );
  const missing = await train(["--resume", "--out", `${out}/nothing`]);
  assert.equal(missing.code, 2);
  assert.match(oneLineError(missing.stderr), /expected a previous run/);
  await Deno.remove(out, { recursive: true });
});

Deno.test("a 2-iteration dcgan28 run on the WebGPU backend writes models that load back", async () => {
  const out = await tempDir();
  const { code, stdout, stderr } = await train([
    "--backend",
    "webgpu",
    "--batch",
    "4",
    "--iterations",
    "2",
    "--out",
    out,
  ]);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /backend webgpu/);
  const { loadLayersModel } = await import("../lib/model_io.ts");
  const tf = await import("@tensorflow/tfjs-core");
  await import("@tensorflow/tfjs-backend-cpu");
  await tf.setBackend("cpu");
  const generator = await loadLayersModel(`${out}/generator`);
  const critic = await loadLayersModel(`${out}/critic`);
  const images = generator.predict(
    tf.randomNormal([2, 100]),
  ) as import("@tensorflow/tfjs-core").Tensor;
  assert.deepEqual(images.shape, [2, 28, 28, 1]);
  const scores = critic.predict(
    images,
  ) as import("@tensorflow/tfjs-core").Tensor;
  assert.deepEqual(scores.shape, [2, 1]);
  assert.ok((await scores.data()).every(Number.isFinite));
  tf.dispose([images, scores]);
  generator.dispose();
  critic.dispose();
  await Deno.remove(out, { recursive: true });
});

Deno.test("train.ts --eval-every K records the FID in losses.jsonl every K iterations", async () => {
  const out = await tempDir();
  const { code, stderr, stdout } = await train([
    ...SMALL,
    "--iterations",
    "2",
    "--eval-every",
    "2",
    "--out",
    out,
  ]);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /iter 2\/2: .*FID \d+\.\d+/);
  const records = await readLosses(`${out}/losses.jsonl`);
  assert.equal(records[0].fid, undefined);
  assert.ok(Number.isFinite(records[1].fid) && records[1].fid! > 0);
  await Deno.remove(out, { recursive: true });
});

Deno.test("train.ts on SIGTERM writes a checkpoint at the current iteration and exits 0", async () => {
  const out = await tempDir();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      TRAIN,
      ...SMALL,
      "--iterations",
      "500",
      "--checkpoint-every",
      "1000",
      // No sample grid (a real async write) before the signal: the stop must
      // not wait for one.
      "--sample-every",
      "1000",
      "--out",
      out,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Wait for training to be under way (the first loss record), then ask it to stop.
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const text = await Deno.readTextFile(`${out}/losses.jsonl`).catch(() => "");
    if (text.includes('"iteration":1,')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGTERM");
  const { code, stdout } = await child.output();
  assert.equal(code, 0);
  const text = new TextDecoder().decode(stdout);
  const stoppedAt = Number(text.match(/stopped at iteration (\d+)/)?.[1]);
  assert.ok(stoppedAt >= 1 && stoppedAt < 500, text);
  const { readLatestCheckpoint } = await import("../lib/checkpoint.ts");
  const checkpoint = await readLatestCheckpoint(`${out}/checkpoints`);
  assert.equal(checkpoint.state.iteration, stoppedAt);
  const iterations = (await readLosses(`${out}/losses.jsonl`)).map((r) =>
    r.iteration
  );
  assert.equal(iterations[iterations.length - 1], stoppedAt);
  await Deno.remove(out, { recursive: true });
});
