/**
 * Proof that a body of unknown length is whole: when no Content-Length (or Content-Range) says
 * how long a body is, a connection that closes early looks like a clean end, so the image's own
 * structure has to say it ends where it should. (One walk per format, in one file: a table of
 * small functions that would not read better apart.)
 *
 * | format    | whole when                                                                  |
 * | --------- | --------------------------------------------------------------------------- |
 * | PNG       | the last 12 bytes are the IEND chunk                                        |
 * | JPEG      | its segments, from SOI through its scans, end in the EOI marker at its end  |
 * | GIF       | its blocks, from the header through its images, end in the trailer `3B`   |
 * | WebP      | the RIFF size is the file's size − 8                                        |
 * | AVIF/HEIF | the top-level boxes' sizes add up to the file's size (no box "to the end")  |
 * | BMP       | the header's `bfSize` is the file's size                                    |
 * | TIFF      | every IFD of the chain, and every strip and tile they point to, is there    |
 * | ICO       | every image the directory lists is there                                    |
 * | SVG       | it ends with `</svg>`, white space aside                                    |
 *
 * (Trailing zero bytes are allowed after a JPEG's EOI and a GIF's trailer; a JPEG may be followed by
 * further whole JPEGs, as in an MPO.) Anything else (kept only with `anyType`) has no structure to check, and counts as whole when
 * its connection ended cleanly.
 *
 * @module
 */

import type { ImageType } from "./sniff.ts";

/** Random access to a body's bytes, in memory or in a file. */
export interface Bytes {
  /** The body's size. */
  readonly size: number;
  /** Up to `length` bytes from `offset` (fewer at the end). */
  read(offset: number, length: number): Uint8Array;
}

/** A {@linkcode Bytes} over bytes in memory. */
export function memoryBytes(bytes: Uint8Array): Bytes {
  return {
    size: bytes.byteLength,
    read: (offset, length) => bytes.subarray(offset, offset + length),
  };
}

/** A {@linkcode Bytes} over an open file of `size` bytes, read synchronously. */
export function fileBytes(file: Deno.FsFile, size: number): Bytes {
  return {
    size,
    read(offset, length) {
      const buffer = new Uint8Array(Math.max(0, Math.min(length, size - offset)));
      file.seekSync(offset, Deno.SeekMode.Start);
      let at = 0;
      while (at < buffer.byteLength) {
        const n = file.readSync(buffer.subarray(at));
        if (n === null || n === 0) break;
        at += n;
      }
      return buffer.subarray(0, at);
    },
  };
}

const IEND = [0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82];

function u32be(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function u32le(b: Uint8Array, at: number): number {
  return ((b[at + 3]! << 24) | (b[at + 2]! << 16) | (b[at + 1]! << 8) | b[at]!) >>> 0;
}

/**
 * Reads a {@linkcode Bytes} a window at a time, for walks that step through a body a few bytes at
 * a time: one read per window, not one per step.
 */
class Window {
  static readonly SIZE = 256 * 1024;
  #bytes: Bytes;
  #start = 0;
  #buffer: Uint8Array = new Uint8Array(0);

  constructor(bytes: Bytes) {
    this.#bytes = bytes;
  }

  /** The byte at `at`, or `undefined` past the end. */
  byte(at: number): number | undefined {
    if (at < this.#start || at >= this.#start + this.#buffer.byteLength) {
      if (at >= this.#bytes.size || at < 0) return undefined;
      this.#start = at;
      this.#buffer = this.#bytes.read(at, Window.SIZE);
    }
    return this.#buffer[at - this.#start];
  }

  /** Where the next byte `value` is from `at` on, or -1. */
  find(at: number, value: number): number {
    while (at < this.#bytes.size) {
      if (this.byte(at) === undefined) return -1;
      const found = this.#buffer.indexOf(value, at - this.#start);
      if (found >= 0) return this.#start + found;
      at = this.#start + this.#buffer.byteLength;
    }
    return -1;
  }

  /** Whether every byte from `at` to the end is zero. */
  zerosFrom(at: number): boolean {
    for (; at < this.#bytes.size; at = this.#start + this.#buffer.byteLength) {
      if (this.byte(at) === undefined) return false;
      for (let i = at - this.#start; i < this.#buffer.byteLength; i++) {
        if (this.#buffer[i] !== 0) return false;
      }
    }
    return true;
  }
}

/**
 * GIF: the header, the logical screen descriptor and its global colour table, then extensions
 * (`21`, a label, sub-blocks up to an empty one) and images (`2C`, a descriptor, a local colour
 * table, the LZW code size, sub-blocks up to an empty one), up to the trailer `3B`, which must end
 * the body (zero bytes aside): a `3B` inside image data is not the end.
 */
function gifProblem(bytes: Bytes): string | undefined {
  const window = new Window(bytes);
  const screen = window.byte(10);
  if (screen === undefined || window.byte(12) === undefined) return "its header is cut";
  let at = 13 + (screen & 0x80 ? 3 << ((screen & 7) + 1) : 0);
  const subBlocks = (): boolean => {
    for (;;) {
      const length = window.byte(at);
      if (length === undefined) return false;
      at += 1 + length;
      if (length === 0) return true;
    }
  };
  for (;;) {
    const block = window.byte(at);
    if (block === undefined) return `it ends at byte ${bytes.size} before its trailer (3B)`;
    if (block === 0x3b) {
      return window.zerosFrom(at + 1)
        ? undefined
        : `its trailer (3B) at byte ${at} is followed by more data`;
    }
    if (block === 0x21) {
      at += 2;
      if (!subBlocks()) return `an extension block is cut at byte ${bytes.size}`;
    } else if (block === 0x2c) {
      const packed = window.byte(at + 9);
      if (packed === undefined) return `an image descriptor is cut at byte ${bytes.size}`;
      at += 10 + (packed & 0x80 ? 3 << ((packed & 7) + 1) : 0) + 1;
      if (!subBlocks()) return `an image is cut at byte ${bytes.size}`;
    } else {
      return `it has an unknown block (${block.toString(16)}) at byte ${at}`;
    }
  }
}

/**
 * JPEG: from SOI, each marker segment by its length up to a scan (SOS), then the scan's
 * entropy-coded data up to the next marker (`FF 00` is a stuffed `FF`, `FF D0`-`FF D7` restart
 * markers), and so on to EOI, after at least one scan, at the body's end (zero bytes aside, or
 * another whole JPEG, as in an MPO). An EOI inside a segment (an EXIF thumbnail's) is skipped
 * with its segment, so it never counts.
 */
function jpegProblem(bytes: Bytes): string | undefined {
  const window = new Window(bytes);
  let at = 0;
  for (;;) {
    if (window.byte(at) !== 0xff || window.byte(at + 1) !== 0xd8) {
      return `no SOI marker (FF D8) at byte ${at}`;
    }
    at += 2;
    let scanned = false;
    for (;;) {
      if (window.byte(at) !== 0xff) {
        return window.byte(at) === undefined
          ? `it ends at byte ${bytes.size} before its EOI marker (FF D9)`
          : `no marker at byte ${at}`;
      }
      while (window.byte(at + 1) === 0xff) at++; // fill bytes
      const marker = window.byte(at + 1);
      if (marker === undefined) return `it ends at byte ${bytes.size} before its EOI marker`;
      at += 2;
      if (marker === 0xd9) {
        if (!scanned) return `its EOI marker at byte ${at - 2} comes before any scan`;
        break;
      }
      if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue;
      if (marker === 0xd8 || marker === 0x00) return `a stray marker at byte ${at - 2}`;
      const high = window.byte(at);
      const low = window.byte(at + 1);
      if (high === undefined || low === undefined) return `a segment is cut at byte ${bytes.size}`;
      const length = (high << 8) | low;
      if (length < 2) return `a segment at byte ${at - 2} has the impossible length ${length}`;
      at += length;
      if (at > bytes.size) return `a segment runs past the end, at byte ${bytes.size}`;
      if (marker !== 0xda) continue;
      scanned = true;
      // The scan's entropy-coded data runs to the first marker that is not a stuffed byte or a
      // restart marker.
      for (;;) {
        at = window.find(at, 0xff);
        if (at < 0) return `its scan data is cut at byte ${bytes.size}`;
        const next = window.byte(at + 1);
        if (next === undefined) return `its scan data is cut at byte ${bytes.size}`;
        if (next !== 0x00 && (next < 0xd0 || next > 0xd7)) break;
        at += 2;
      }
    }
    if (window.zerosFrom(at)) return undefined;
    if (window.byte(at) !== 0xff || window.byte(at + 1) !== 0xd8) {
      return `its EOI marker at byte ${at - 2} is followed by more data`;
    }
  }
}

/** ISO-BMFF (AVIF, HEIF): the top-level boxes tile the file exactly. */
function boxesProblem(bytes: Bytes): string | undefined {
  let at = 0;
  for (let boxes = 0; at < bytes.size; boxes++) {
    if (boxes > 100_000) return "it has too many top-level boxes to check";
    const head = bytes.read(at, 16);
    if (head.byteLength < 8) return `its last box header is cut at byte ${at}`;
    let size = u32be(head, 0);
    if (size === 1) {
      if (head.byteLength < 16) return `its last box header is cut at byte ${at}`;
      size = u32be(head, 8) * 2 ** 32 + u32be(head, 12);
    } else if (size === 0) {
      return "its last box runs to the end of the file, so its size cannot be checked";
    }
    if (size < 8) return `a box at byte ${at} has the impossible size ${size}`;
    at += size;
  }
  return at === bytes.size ? undefined : `its boxes add up to ${at} bytes`;
}

/** TIFF: every IFD of the chain, and the strips and tiles they point to, lie inside the file. */
function tiffProblem(bytes: Bytes): string | undefined {
  const head = bytes.read(0, 8);
  if (head.byteLength < 8) return "its header is cut";
  const little = head[0] === 0x49;
  const u16 = (b: Uint8Array, i: number) =>
    little ? b[i]! | (b[i + 1]! << 8) : (b[i]! << 8) | b[i + 1]!;
  const u32 = (b: Uint8Array, i: number) => little ? u32le(b, i) : u32be(b, i);
  const SIZES: Record<number, number> = {
    1: 1,
    2: 1,
    3: 2,
    4: 4,
    5: 8,
    6: 1,
    7: 1,
    8: 2,
    9: 4,
    10: 8,
    11: 4,
    12: 8,
  };
  let ifd = u32(head, 4);
  const seen = new Set<number>();
  while (ifd !== 0) {
    if (seen.has(ifd) || seen.size > 1000) return "its IFD chain loops";
    seen.add(ifd);
    const countBytes = bytes.read(ifd, 2);
    if (countBytes.byteLength < 2) return `its IFD at byte ${ifd} is missing`;
    const count = u16(countBytes, 0);
    const table = bytes.read(ifd + 2, count * 12 + 4);
    if (table.byteLength < count * 12 + 4) return `its IFD at byte ${ifd} is cut`;
    const fields = new Map<number, number[]>();
    for (let i = 0; i < count; i++) {
      const entry = table.subarray(i * 12, i * 12 + 12);
      const tag = u16(entry, 0);
      const type = u16(entry, 2);
      const n = u32(entry, 4);
      const width = SIZES[type] ?? 1;
      const length = width * n;
      if (length > 4 && u32(entry, 8) + length > bytes.size) {
        return `a field of its IFD at byte ${ifd} points past the end`;
      }
      if (tag === 273 || tag === 279 || tag === 324 || tag === 325) {
        if (type !== 3 && type !== 4) continue;
        const data = length > 4 ? bytes.read(u32(entry, 8), length) : entry.subarray(8, 12);
        const values: number[] = [];
        for (let k = 0; k < n; k++) values.push(type === 3 ? u16(data, k * 2) : u32(data, k * 4));
        fields.set(tag, values);
      }
    }
    for (const [offsets, counts] of [[273, 279], [324, 325]] as const) {
      const starts = fields.get(offsets);
      const lengths = fields.get(counts);
      if (!starts || !lengths) continue;
      for (let k = 0; k < starts.length; k++) {
        if (starts[k]! + (lengths[k] ?? 0) > bytes.size) {
          return `a strip or tile at byte ${starts[k]} runs past the end`;
        }
      }
    }
    ifd = u32(table, count * 12);
  }
  return undefined;
}

/** ICO: every image of the directory lies inside the file. */
function icoProblem(bytes: Bytes): string | undefined {
  const head = bytes.read(0, 6);
  if (head.byteLength < 6) return "its header is cut";
  const count = head[4]! | (head[5]! << 8);
  const entries = bytes.read(6, count * 16);
  if (entries.byteLength < count * 16) return "its directory is cut";
  for (let i = 0; i < count; i++) {
    const end = u32le(entries, i * 16 + 12) + u32le(entries, i * 16 + 8);
    if (end > bytes.size) return `its image ${i + 1} runs past the end`;
  }
  return undefined;
}

/** The formats whose wholeness is a walk of their structure, with their name in a message. */
const WALKS: Record<
  "jpeg" | "gif" | "tiff" | "ico",
  { label: string; problem: (bytes: Bytes) => string | undefined }
> = {
  jpeg: { label: "JPEG", problem: jpegProblem },
  gif: { label: "GIF", problem: gifProblem },
  tiff: { label: "TIFF", problem: tiffProblem },
  ico: { label: "ICO", problem: icoProblem },
};

/**
 * Tells whether a body of unknown length is whole, by the structure of its format.
 *
 * @param type The format the body's first bytes were recognised as; `undefined` for a body kept
 * with `anyType` that is not a known image, which has nothing to check.
 * @param bytes The whole body.
 * @returns `undefined` when it is whole; else what is wrong, as the end of a sentence.
 *
 * @example
 * ```ts
 * import { memoryBytes, wholeness } from "./complete.ts";
 * import assert from "node:assert/strict";
 *
 * const gif = new Uint8Array([...new TextEncoder().encode("GIF89a"), 1, 0, 1, 0, 0, 0, 0, 0x3b]);
 * assert.equal(wholeness("gif", memoryBytes(gif)), undefined);
 * assert.match(wholeness("gif", memoryBytes(gif.subarray(0, 13)))!, /trailer/);
 * ```
 */
export function wholeness(type: ImageType | undefined, bytes: Bytes): string | undefined {
  switch (type) {
    case undefined:
      return undefined;
    case "jpeg":
    case "gif":
    case "tiff":
    case "ico": {
      const walk = WALKS[type];
      const problem = walk.problem(bytes);
      return problem ? `the ${walk.label} is not whole: ${problem}` : undefined;
    }
    case "png": {
      const tail = bytes.read(Math.max(0, bytes.size - 12), 12);
      return tail.byteLength === 12 && IEND.every((b, i) => tail[i] === b)
        ? undefined
        : "the PNG does not end with its IEND chunk";
    }
    case "webp": {
      const head = bytes.read(0, 12);
      const riff = u32le(head, 4) + 8;
      return riff === bytes.size
        ? undefined
        : `the WebP is ${bytes.size} bytes, but its RIFF header says ${riff}`;
    }
    case "avif": {
      const problem = boxesProblem(bytes);
      return problem ? `the AVIF/HEIF is ${bytes.size} bytes, but ${problem}` : undefined;
    }
    case "bmp": {
      const head = bytes.read(0, 6);
      const declared = head.byteLength === 6 ? u32le(head, 2) : -1;
      return declared === bytes.size
        ? undefined
        : `the BMP is ${bytes.size} bytes, but its header says ${declared}`;
    }
    case "svg": {
      const tail = new TextDecoder().decode(bytes.read(Math.max(0, bytes.size - 256), 256));
      return /<\/(?:[\w.-]+:)?svg\s*>\s*$/.test(tail)
        ? undefined
        : "the SVG does not end with </svg>";
    }
  }
}

/** Whether two byte sources hold the same bytes, compared in slices. */
export function sameBytes(a: Bytes, b: Bytes): boolean {
  if (a.size !== b.size) return false;
  const SLICE = 256 * 1024;
  for (let at = 0; at < a.size; at += SLICE) {
    const x = a.read(at, SLICE);
    const y = b.read(at, SLICE);
    if (x.byteLength !== y.byteLength) return false;
    for (let i = 0; i < x.byteLength; i++) if (x[i] !== y[i]) return false;
  }
  return true;
}
