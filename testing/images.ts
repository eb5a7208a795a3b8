/**
 * The test server's synthetic PNGs, made on first request and kept in memory up to a budget, so
 * that a million-image server costs nothing until asked and a benchmark's repeated fetches of
 * ten thousand images cost one generation each.
 *
 * @module
 */

import { crc32, syntheticPng, type SyntheticPngOptions } from "./png.ts";
import type { Entity } from "./http.ts";

interface Made {
  bytes: Uint8Array<ArrayBuffer>;
  etag: string;
}

const LAST_MODIFIED = new Date(Date.UTC(2024, 0, 1));

/**
 * Synthetic PNGs by index as HTTP entities, cached up to a number of bytes (oldest out first).
 *
 * @example Image 3, twice
 * ```ts
 * import { ImageCache } from "./images.ts";
 * import { syntheticPng } from "./png.ts";
 * import assert from "node:assert/strict";
 *
 * const images = new ImageCache({ seed: 1 });
 * const entity = await images.get(3);
 * assert.equal(entity.type, "image/png");
 * assert.deepEqual(entity.body(0, entity.size), await syntheticPng(3));
 * assert.equal((await images.get(3)).etag, entity.etag);
 * ```
 */
export class ImageCache {
  #options: SyntheticPngOptions;
  #budget: number;
  #entries = new Map<number, Promise<Made>>();
  #sizes = new Map<number, number>();
  #bytes = 0;

  /**
   * Makes an empty cache.
   *
   * @param options How the images are made (size range and seed, as for `syntheticPng`).
   * @param budget How many bytes of images to keep at most. Default 256 MiB.
   */
  constructor(options: SyntheticPngOptions, budget: number = 256 * 1024 * 1024) {
    this.#options = options;
    this.#budget = budget;
  }

  /**
   * The image `index` as an entity, made now unless kept.
   *
   * @param index Which image.
   * @returns Its bytes, `image/png` and a strong ETag derived from the bytes.
   */
  async get(index: number): Promise<Entity> {
    let entry = this.#entries.get(index);
    if (!entry) {
      entry = this.#make(index);
      this.#entries.set(index, entry);
    }
    const { bytes, etag } = await entry;
    return {
      size: bytes.length,
      type: "image/png",
      etag,
      lastModified: LAST_MODIFIED,
      body: (start, end) => bytes.subarray(start, end),
    };
  }

  async #make(index: number): Promise<Made> {
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = await syntheticPng(index, this.#options);
    } catch (error) {
      this.#entries.delete(index);
      throw error;
    }
    const etag = `"${bytes.length.toString(16)}-${crc32(bytes).toString(16).padStart(8, "0")}"`;
    this.#sizes.set(index, bytes.length);
    this.#bytes += bytes.length;
    for (const [old, size] of this.#sizes) {
      if (this.#bytes <= this.#budget) break;
      if (old === index) continue;
      this.#sizes.delete(old);
      this.#entries.delete(old);
      this.#bytes -= size;
    }
    return { bytes, etag };
  }
}
