/**
 * Cuts the embedded Fashion-MNIST subset in `fixtures/fashion-mnist/` from the
 * original IDX files: 5,000 training and 1,000 test images with their labels,
 * chosen with a fixed seed, in the same gzip IDX format.
 *
 *   deno task fixtures [--data /usr/share/datasets/fashion-mnist]
 */
import { parseArgs } from "node:util";
import {
  encodeIdx,
  gzip,
  IMAGES_MAGIC,
  LABELS_MAGIC,
  readIdxFile,
} from "../lib/idx.ts";
import { writeFileAtomic } from "../lib/atomic.ts";
import { DEBIAN_DATA_DIR, FIXTURES_DATA_DIR } from "../lib/data.ts";
import { Rng } from "../lib/random.ts";

const SUBSETS = { train: 5000, t10k: 1000 } as const;
const SEED = 20170126; // the WGAN paper's arXiv date

const { values } = parseArgs({
  args: Deno.args,
  options: { data: { type: "string", default: DEBIAN_DATA_DIR } },
  strict: true,
});

try {
  await Deno.mkdir(FIXTURES_DATA_DIR, { recursive: true });
  for (const [split, n] of Object.entries(SUBSETS)) {
    const images = await readIdxFile(
      `${values.data}/${split}-images-idx3-ubyte.gz`,
      IMAGES_MAGIC,
    );
    const labels = await readIdxFile(
      `${values.data}/${split}-labels-idx1-ubyte.gz`,
      LABELS_MAGIC,
    );
    const [count, h, w] = images.dims;
    const chosen = new Rng(SEED).shuffle(
      new Uint32Array(count).map((_, i) => i),
    ).slice(0, n).sort();
    const outImages = new Uint8Array(n * h * w);
    const outLabels = new Uint8Array(n);
    chosen.forEach((index, i) => {
      outImages.set(
        images.data.subarray(index * h * w, (index + 1) * h * w),
        i * h * w,
      );
      outLabels[i] = labels.data[index];
    });
    await writeFileAtomic(
      `${FIXTURES_DATA_DIR}/${split}-images-idx3-ubyte.gz`,
      await gzip(encodeIdx(IMAGES_MAGIC, [n, h, w], outImages)),
    );
    await writeFileAtomic(
      `${FIXTURES_DATA_DIR}/${split}-labels-idx1-ubyte.gz`,
      await gzip(encodeIdx(LABELS_MAGIC, [n], outLabels)),
    );
    console.log(`${split}: ${n} of ${count} images, seed ${SEED}`);
  }
} catch (e) {
  console.error(`error: ${(e as Error).message}`);
  Deno.exit(1);
}
