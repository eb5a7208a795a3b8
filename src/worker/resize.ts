/**
 * Resizing and re-encoding an image in a worker, with `sharp` (libvips, prebuilt, inside its npm
 * package). It is loaded only by a worker that resizes, the first time it does, since it needs
 * `--allow-ffi` and `--allow-env`: a plain download needs neither.
 *
 * @module
 */

import type { WorkerConfig } from "../protocol.ts";

type Sharp = typeof import("npm:sharp@0.35.5").default;

let loading: Promise<Sharp> | undefined;

function loadSharp(): Promise<Sharp> {
  // deno-lint-ignore no-import-prefix
  return loading ??= import("npm:sharp@0.35.5").then((module) => {
    const sharp = module.default;
    // One worker per core does the parallel work: one libvips thread each, and no cache.
    sharp.concurrency(1);
    sharp.cache(false);
    return sharp;
  }, (error) => {
    loading = undefined;
    throw new Error(
      `cannot load sharp to resize images (it needs --allow-ffi --allow-env): ${
        (error as Error).message
      }`,
    );
  });
}

/** A resized image, or why it could not be. */
export type Resized =
  | {
    bytes: Uint8Array;
    mime: string;
    width: number;
    height: number;
    originalWidth: number;
    originalHeight: number;
  }
  | { error: string };

const MIME_OF = { jpg: "image/jpeg", png: "image/png", webp: "image/webp" } as const;

/**
 * Decodes an image fully, fits it to `config.imageSize` by `config.resizeMode` and encodes it
 * in `config.encodeFormat`. Transparent parts become black.
 *
 * @param input The whole downloaded file.
 * @param config The worker's configuration.
 * @returns The new image and both sizes, or a sentence saying why it does not decode (or why
 * sharp cannot be loaded: a missing permission).
 */
export async function resize(input: Uint8Array, config: WorkerConfig): Promise<Resized> {
  let sharp: Sharp;
  try {
    sharp = await loadSharp();
  } catch (error) {
    return { error: (error as Error).message };
  }
  try {
    const image = sharp(input);
    const meta = await image.metadata();
    if (!meta.width || !meta.height) return { error: "the image has no size" };
    const size = config.imageSize ?? 256;
    const fit = config.resizeMode === "border"
      ? "contain"
      : config.resizeMode === "center-crop"
      ? "cover"
      : "outside";
    let pipeline = image.flatten({ background: "#000" }).resize(size, size, {
      fit,
      background: "#000",
      kernel: "lanczos3",
    });
    const quality = config.encodeQuality ?? 95;
    const format = config.encodeFormat ?? "jpg";
    pipeline = format === "jpg"
      ? pipeline.jpeg({ quality })
      : format === "webp"
      ? pipeline.webp({ quality })
      : pipeline.png();
    const { data, info } = await pipeline.toBuffer({ resolveWithObject: true });
    return {
      bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      mime: MIME_OF[format],
      width: info.width,
      height: info.height,
      originalWidth: meta.width,
      originalHeight: meta.height,
    };
  } catch (error) {
    return { error: `the image does not decode: ${(error as Error).message}` };
  }
}
