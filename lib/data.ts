/**
 * Fashion-MNIST: finding a local copy, loading it as uint8, and streaming
 * shuffled batches scaled to [-1, 1].
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { IMAGES_MAGIC, LABELS_MAGIC, readIdxFile } from "./idx.ts";
import { Rng, type RngState } from "./random.ts";

/** Folder of the embedded subset (5,000 training and 1,000 test images). */
export const FIXTURES_DATA_DIR = new URL(
  "../fixtures/fashion-mnist",
  import.meta.url,
).pathname;

/** Where Debian's `dataset-fashion-mnist` package installs the original files. */
export const DEBIAN_DATA_DIR = "/usr/share/datasets/fashion-mnist";

/** Which split of Fashion-MNIST to read. */
export type Split = "train" | "t10k";

/** Fashion-MNIST's class names, by label. */
export const CLASS_NAMES = [
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
] as const;

/** A loaded split: images kept as uint8, `count x 28 x 28`, and their labels. */
export interface FashionMnist {
  /** Folder the files came from. */
  dir: string;
  /** Number of images. */
  count: number;
  /** Image height and width (28). */
  size: number;
  /** Pixels, `count * size * size` bytes, 0 = background. */
  images: Uint8Array;
  /** Labels 0-9, `count` bytes, when the label file is present. */
  labels?: Uint8Array;
}

/** Where a data folder came from, for the run to report. */
export interface DataSource {
  /** The folder. */
  dir: string;
  /** How it was chosen: the flag, the environment, a cache or the fixtures. */
  origin: "--data" | "FASHION_MNIST_DIR" | "cache" | "debian" | "fixtures";
}

/** Error for data that is missing or not what was expected. */
export class DataError extends Error {
  override name = "DataError";
}

function imagesFile(dir: string, split: Split): string {
  return `${dir}/${split}-images-idx3-ubyte.gz`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds the Fashion-MNIST folder: `--data DIR`, `$FASHION_MNIST_DIR`,
 * `~/.cache/fashion-mnist`, `/usr/share/datasets/fashion-mnist`, then the
 * embedded subset. A folder given explicitly must hold the split's images file.
 *
 * @example
 * ```ts ignore
 * import { resolveDataDir } from "./data.ts";
 * const source = await resolveDataDir({ env: {} });
 * console.log(source.dir, source.origin);
 * ```
 */
export async function resolveDataDir(
  options: {
    data?: string;
    env?: Record<string, string | undefined>;
    home?: string;
    split?: Split;
  } = {},
): Promise<DataSource> {
  const split = options.split ?? "train";
  const env = options.env ?? {};
  if (options.data !== undefined) {
    if (!(await exists(imagesFile(options.data, split)))) {
      throw new DataError(
        `--data ${options.data}: expected ${split}-images-idx3-ubyte.gz in that folder`,
      );
    }
    return { dir: options.data, origin: "--data" };
  }
  const fromEnv = env.FASHION_MNIST_DIR;
  if (fromEnv) {
    if (!(await exists(imagesFile(fromEnv, split)))) {
      throw new DataError(
        `FASHION_MNIST_DIR=${fromEnv}: expected ${split}-images-idx3-ubyte.gz in that folder`,
      );
    }
    return { dir: fromEnv, origin: "FASHION_MNIST_DIR" };
  }
  const home = options.home ?? env.HOME;
  if (home && await exists(imagesFile(`${home}/.cache/fashion-mnist`, split))) {
    return { dir: `${home}/.cache/fashion-mnist`, origin: "cache" };
  }
  if (await exists(imagesFile(DEBIAN_DATA_DIR, split))) {
    return { dir: DEBIAN_DATA_DIR, origin: "debian" };
  }
  return { dir: FIXTURES_DATA_DIR, origin: "fixtures" };
}

/**
 * Loads one split from `dir` (`<split>-images-idx3-ubyte.gz`, and the labels
 * when present), validating both files.
 */
export async function loadFashionMnist(
  dir: string,
  split: Split = "train",
  options: { labels?: boolean } = {},
): Promise<FashionMnist> {
  const images = await readIdxFile(imagesFile(dir, split), IMAGES_MAGIC);
  const [count, height, width] = images.dims;
  if (height !== width) {
    throw new DataError(
      `${
        imagesFile(dir, split)
      }: expected square images, got ${height}x${width}`,
    );
  }
  const result: FashionMnist = {
    dir,
    count,
    size: height,
    images: images.data,
  };
  const labelsPath = `${dir}/${split}-labels-idx1-ubyte.gz`;
  if (options.labels ?? await exists(labelsPath)) {
    const labels = await readIdxFile(labelsPath, LABELS_MAGIC);
    if (labels.dims[0] !== count) {
      throw new DataError(
        `${labelsPath}: expected ${count} labels to match the images, got ${
          labels.dims[0]
        }`,
      );
    }
    result.labels = labels.data;
  }
  return result;
}

/** Position of a {@link BatchStream}, to store in a checkpoint. */
export interface BatchStreamState {
  /** Random generator state after the current epoch's shuffle. */
  rng: RngState;
  /** Current epoch's order. */
  order: number[];
  /** Index into `order` of the next image. */
  position: number;
  /** Completed epochs. */
  epoch: number;
}

/**
 * Streams batches of a dataset in a seeded random order, reshuffled every epoch.
 * Images stay uint8 in memory; each batch is converted to float in [-1, 1].
 *
 * @example
 * ```ts ignore
 * import { BatchStream } from "./data.ts";
 * const stream = new BatchStream(dataset, { batchSize: 64, seed: 1 });
 * const x = stream.next(); // [64, 28, 28, 1] in [-1, 1]
 * x.dispose();
 * ```
 */
export class BatchStream {
  readonly batchSize: number;
  #data: FashionMnist;
  #rng: Rng;
  #order: Uint32Array;
  #position = 0;
  #epoch = 0;
  #outSize: number;

  constructor(
    data: FashionMnist,
    options: { batchSize: number; seed: number; outSize?: number },
  ) {
    if (data.count < options.batchSize) {
      throw new DataError(
        `Expected at least ${options.batchSize} images for one batch, the dataset has ${data.count}`,
      );
    }
    this.#data = data;
    this.batchSize = options.batchSize;
    this.#outSize = options.outSize ?? data.size;
    this.#rng = new Rng(options.seed);
    this.#order = new Uint32Array(data.count).map((_, i) => i);
    this.#rng.shuffle(this.#order);
  }

  /** Completed epochs. */
  get epoch(): number {
    return this.#epoch;
  }

  /** The stream's position, for {@link BatchStream.restore}. */
  get state(): BatchStreamState {
    return {
      rng: this.#rng.state,
      order: Array.from(this.#order),
      position: this.#position,
      epoch: this.#epoch,
    };
  }

  /** Continues from a stored position. */
  restore(state: BatchStreamState): void {
    if (state.order.length !== this.#data.count) {
      throw new DataError(
        `Expected a data position over ${this.#data.count} images, the checkpoint has ${state.order.length}`,
      );
    }
    this.#rng = new Rng(state.rng);
    this.#order = Uint32Array.from(state.order);
    this.#position = state.position;
    this.#epoch = state.epoch;
  }

  /** Next batch's pixels as floats in [-1, 1], `[batchSize * size * size]`. */
  nextPixels(): Float32Array {
    const { size, images } = this.#data;
    const pixels = size * size;
    const out = new Float32Array(this.batchSize * pixels);
    for (let b = 0; b < this.batchSize; b++) {
      if (this.#position >= this.#order.length) {
        this.#rng.shuffle(this.#order);
        this.#position = 0;
        this.#epoch++;
      }
      const offset = this.#order[this.#position++] * pixels;
      for (let p = 0; p < pixels; p++) {
        out[b * pixels + p] = images[offset + p] / 127.5 - 1;
      }
    }
    return out;
  }

  /** Next batch as a tensor `[batchSize, outSize, outSize, 1]` in [-1, 1]. */
  next(): tf.Tensor4D {
    const size = this.#data.size;
    const pixels = this.nextPixels();
    return tf.tidy(() => {
      const x = tf.tensor4d(pixels, [this.batchSize, size, size, 1]);
      return this.#outSize === size
        ? x
        : tf.image.resizeBilinear(x, [this.#outSize, this.#outSize]);
    });
  }
}
