/**
 * Synthetic, deterministic PNG files for tests, demos and benchmarks: real PNGs (signature, IHDR,
 * one IDAT of zlib data, IEND, correct CRCs) whose pixels are seeded pseudo-random noise, so that
 * they do not compress and each file lands close to a size picked from its index.
 *
 * @module
 */

import { fmix32 } from "../src/hash.ts";

/** The smallest `minBytes` {@linkcode syntheticPng} accepts. */
export const MIN_PNG_BYTES = 100;

/** The default size range of {@linkcode syntheticPng}, in bytes. */
export const DEFAULT_PNG_BYTES: { readonly min: number; readonly max: number } = {
  min: 4_000,
  max: 40_000,
};

/**
 * Options of {@linkcode syntheticPng} and {@linkcode writePngs}.
 *
 * @example Another seed, other pictures
 * ```ts
 * import { syntheticPng, type SyntheticPngOptions } from "./png.ts";
 * import assert from "node:assert/strict";
 *
 * const small: SyntheticPngOptions = { minBytes: 500, maxBytes: 1_000 };
 * const a = await syntheticPng(0, small);
 * const b = await syntheticPng(0, { ...small, seed: 2 });
 * assert.notDeepEqual(a, b);
 * ```
 */
export interface SyntheticPngOptions {
  /** The smallest file to aim for, in bytes (at least {@linkcode MIN_PNG_BYTES}). Default 4,000. */
  minBytes?: number;
  /** The largest file to aim for, in bytes (at least `minBytes`). Default 40,000 or `minBytes`. */
  maxBytes?: number;
  /** Changes every file's size and pixels; the same seed gives the same files. Default 1. */
  seed?: number;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
// Signature, IHDR, the IDAT chunk's frame, IEND; then zlib's header and Adler-32, and what
// CompressionStream adds around the first stored block (measured).
const PNG_OVERHEAD = 8 + 25 + 12 + 12 + 18;
// Deflate stores incompressible data in blocks of about this many bytes, 5 bytes of header each.
const STORED_BLOCK = 16_384;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * Computes the CRC-32 (ISO-HDLC, as PNG, zlib's gzip and Ethernet use it) of some bytes.
 *
 * @param bytes The bytes to checksum.
 * @returns The checksum, as an unsigned 32-bit integer.
 *
 * @example The checksum of "123456789"
 * ```ts
 * import { crc32 } from "./png.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
 * assert.equal(crc32(new Uint8Array()), 0);
 * ```
 */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const mix = fmix32;

/** A 32-bit hash of two non-negative safe integers. */
function hashPair(a: number, b: number): number {
  const high = (x: number) => Math.floor(x / 0x1_0000_0000) >>> 0;
  let h = mix(0x9e3779b9 ^ a);
  h = mix(h ^ high(a));
  h = mix(h + 0x7f4a7c15 ^ b);
  return mix(h ^ high(b));
}

function check(value: number | undefined, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number") {
    throw new TypeError(`Cannot make PNG: '${name}' must be a number, got ${typeof value}`);
  }
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`Cannot make PNG: '${name}' must be an integer >= ${min}, got ${value}`);
  }
  return value;
}

function resolve(options: SyntheticPngOptions): Required<SyntheticPngOptions> {
  const minBytes = check(options.minBytes, "minBytes", DEFAULT_PNG_BYTES.min, MIN_PNG_BYTES);
  const maxBytes = check(
    options.maxBytes,
    "maxBytes",
    Math.max(DEFAULT_PNG_BYTES.max, minBytes),
    minBytes,
  );
  return { minBytes, maxBytes, seed: check(options.seed, "seed", 1, 0) };
}

/** Writes a chunk (length, type, data, CRC of type and data) at `offset`; returns the end. */
function writeChunk(out: Uint8Array, offset: number, type: string, data: Uint8Array): number {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(offset, data.length);
  for (let i = 0; i < 4; i++) out[offset + 4 + i] = type.charCodeAt(i);
  out.set(data, offset + 8);
  view.setUint32(
    offset + 8 + data.length,
    crc32(out.subarray(offset + 4, offset + 8 + data.length)),
  );
  return offset + 12 + data.length;
}

/**
 * Makes the synthetic PNG number `index`: a valid RGB image of seeded noise whose file size is
 * picked from `index` and `seed` in `[minBytes, maxBytes]`, give or take a few percent. The same
 * index and options always give the same bytes.
 *
 * @param index Which image, a non-negative integer.
 * @param options The size range and seed.
 * @returns The PNG file's bytes.
 *
 * @example A small PNG, the same every time
 * ```ts
 * import { syntheticPng } from "./png.ts";
 * import assert from "node:assert/strict";
 *
 * const png = await syntheticPng(7, { minBytes: 1_000, maxBytes: 2_000 });
 * assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
 * assert.ok(png.length > 900 && png.length < 2_200);
 * assert.deepEqual(await syntheticPng(7, { minBytes: 1_000, maxBytes: 2_000 }), png);
 * ```
 */
export async function syntheticPng(
  index: number,
  options: SyntheticPngOptions = {},
): Promise<Uint8Array<ArrayBuffer>> {
  check(index, "index", 0, 0);
  const { minBytes, maxBytes, seed } = resolve(options);
  const hash = hashPair(seed, index);
  const target = minBytes + hash % (maxBytes - minBytes + 1);

  // Raw scanlines (a filter byte and 3 bytes a pixel each) that deflate will store as they are.
  const blocks = Math.max(1, Math.ceil((target - PNG_OVERHEAD) / STORED_BLOCK));
  const raw = Math.max(4, target - PNG_OVERHEAD - 5 * (blocks - 1));
  // A roughly square image whose scanlines add up as close to `raw` as a few widths allow.
  const square = Math.max(1, Math.round(Math.sqrt(raw / 3)));
  let width = square;
  let height = 1;
  let miss = Infinity;
  for (let w = Math.max(1, square - 16); w <= square + 16; w++) {
    const h = Math.max(1, Math.round(raw / (1 + 3 * w)));
    const m = Math.abs(h * (1 + 3 * w) - raw);
    if (m < miss) [width, height, miss] = [w, h, m];
  }
  const rowBytes = 1 + 3 * width;

  // Noise, 4 bytes a step (in a fixed byte order, so that every machine makes the same file);
  // then each scanline's first byte becomes its filter type, 0 (none).
  const pixels = new Uint8Array(Math.ceil(height * rowBytes / 4) * 4);
  let state = mix(hash ^ 0x5bd1e995) || 1;
  for (let i = 0; i < pixels.length; i += 4) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    pixels[i] = state;
    pixels[i + 1] = state >>> 8;
    pixels[i + 2] = state >>> 16;
    pixels[i + 3] = state >>> 24;
  }
  for (let row = 0; row < height; row++) pixels[row * rowBytes] = 0;

  const deflate = new CompressionStream("deflate");
  const writer = deflate.writable.getWriter();
  void writer.write(pixels.subarray(0, height * rowBytes));
  void writer.close();
  const zlib = new Uint8Array(await new Response(deflate.readable).arrayBuffer());

  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header.set([8, 2, 0, 0, 0], 8); // 8 bits a sample, RGB, deflate, adaptive filters, no interlace

  const png = new Uint8Array(8 + 25 + 12 + zlib.length + 12);
  png.set(SIGNATURE);
  let offset = writeChunk(png, 8, "IHDR", header);
  offset = writeChunk(png, offset, "IDAT", zlib);
  writeChunk(png, offset, "IEND", new Uint8Array());
  return png;
}

/**
 * Writes the synthetic PNGs `0.png` to `(count - 1).png` into a directory (made if missing),
 * a few at a time, e.g. for a static server such as nginx to serve.
 *
 * @param dir The directory to write into.
 * @param count How many images, a non-negative integer.
 * @param options The size range and seed of {@linkcode syntheticPng}, and how many files to make
 * at once (default 8).
 * @returns A promise that settles when every file is written.
 *
 * @example Three files on disk
 * ```ts
 * import { syntheticPng, writePngs } from "./png.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * try {
 *   await writePngs(dir, 3, { maxBytes: 5_000 });
 *   assert.deepEqual(await Deno.readFile(`${dir}/2.png`), await syntheticPng(2, { maxBytes: 5_000 }));
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export async function writePngs(
  dir: string,
  count: number,
  options: SyntheticPngOptions & { concurrency?: number } = {},
): Promise<void> {
  check(count, "count", 0, 0);
  const concurrency = check(options.concurrency, "concurrency", 8, 1);
  const { concurrency: _, ...pngOptions } = options;
  resolve(pngOptions);
  await Deno.mkdir(dir, { recursive: true });
  let next = 0;
  const work = async () => {
    while (next < count) {
      const index = next++;
      await Deno.writeFile(`${dir}/${index}.png`, await syntheticPng(index, pngOptions));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, work));
}
