/**
 * Fast, deterministic files that start like a PNG, for benchmarks: the PNG signature, an IHDR
 * chunk, one IDAT chunk of pseudo-random bytes and an IEND chunk, with correct chunk CRCs. The
 * IDAT data is not a valid zlib stream, so no decoder will show a picture; sniffers that check
 * the signature (as downloaders do) accept them, and the bytes do not compress.
 *
 * @module
 */

import { crc32 } from "../testing/png.ts";
import { fmix32 } from "../src/hash.ts";

/** Options of {@linkcode fakePng}. */
export interface FakePngOptions {
  /** Smallest file, in bytes (at least 57: signature, IHDR, empty IDAT and IEND). */
  minBytes: number;
  /** Largest file, in bytes (at least `minBytes`). */
  maxBytes: number;
  /** Changes every file's size and bytes; the same seed gives the same files. Default 1. */
  seed?: number;
}

/** The smallest file: signature, IHDR, empty IDAT and IEND. */
const FAKE_PNG_MIN_BYTES = 8 + 25 + 12 + 12;

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** A 32-bit mix of two integers (murmur3's finalizer over a simple combination). */
function mix(a: number, b: number): number {
  return fmix32(Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35));
}

function checkInteger(value: unknown, name: string, min: number): void {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`Cannot make PNG: '${name}' must be an integer of at least ${min}`);
  }
}

/** The size of file number `index`: spread evenly over `[minBytes, maxBytes]`. */
function fakePngSize(index: number, options: FakePngOptions): number {
  checkInteger(index, "index", 0);
  checkInteger(options?.minBytes, "minBytes", FAKE_PNG_MIN_BYTES);
  checkInteger(options.maxBytes, "maxBytes", options.minBytes);
  const seed = options.seed ?? 1;
  checkInteger(seed, "seed", 0);
  const span = options.maxBytes - options.minBytes + 1;
  // Two hashes make 53 bits, enough for any span of file sizes.
  const r = mix(index, seed) * 2 ** 21 + (mix(seed, index) >>> 11);
  return options.minBytes + (r % span);
}

/**
 * Makes file number `index` of a deterministic set: the same index, sizes and seed always give
 * the same bytes, and different indexes give different bytes.
 *
 * @param index Which file, a non-negative integer.
 * @param options The size range and the seed.
 * @returns The file's bytes, starting with the PNG signature.
 * @throws {RangeError} When an option or the index is not an integer in range.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fakePng, type FakePngOptions } from "./fake_png.ts";
 *
 * const options: FakePngOptions = { minBytes: 4096, maxBytes: 40960, seed: 7 };
 * const a = fakePng(0, options);
 * assert.ok(a.length >= 4096 && a.length <= 40960);
 * assert.deepEqual([...a.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
 * assert.equal(new TextDecoder().decode(a.subarray(12, 16)), "IHDR");
 * assert.equal(new TextDecoder().decode(a.subarray(-8, -4)), "IEND");
 * assert.deepEqual(fakePng(0, options), a);
 * assert.notDeepEqual(fakePng(1, options), a);
 * assert.equal(fakePng(5, { minBytes: 100, maxBytes: 100 }).length, 100);
 * assert.throws(() => fakePng(0, { minBytes: 10, maxBytes: 20 }), RangeError);
 * ```
 */
export function fakePng(index: number, options: FakePngOptions): Uint8Array {
  const size = fakePngSize(index, options);
  const seed = options.seed ?? 1;
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = mix(index + 1, seed) || 1;
  for (let i = 0; i < words.length; i++) {
    // xorshift32: plenty for incompressible filler.
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x;
  }
  const bytes = new Uint8Array(words.buffer, 0, size);
  const view = new DataView(words.buffer);
  bytes.set(SIGNATURE, 0);

  let at = 8;
  const chunk = (type: string, length: number, fill?: (data: Uint8Array) => void) => {
    view.setUint32(at, length);
    for (let i = 0; i < 4; i++) bytes[at + 4 + i] = type.charCodeAt(i);
    fill?.(bytes.subarray(at + 8, at + 8 + length));
    view.setUint32(at + 8 + length, crc32(bytes.subarray(at + 4, at + 8 + length)));
    at += 12 + length;
  };
  chunk("IHDR", 13, (data) => {
    const ihdr = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const side = 1 + (mix(index, seed + 1) % 1024);
    ihdr.setUint32(0, side);
    ihdr.setUint32(4, side);
    data.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, deflate, adaptive filter, no interlace
  });
  chunk("IDAT", size - FAKE_PNG_MIN_BYTES);
  chunk("IEND", 0);
  return bytes;
}
