/**
 * Small non-cryptographic hashes shared by the naming, sharding, journal, fault and image code:
 * FNV-1a 64 over UTF-8 ({@linkcode stableHash}, and {@linkcode Fnv64} for hashing without
 * allocating), and MurmurHash3's finalizer ({@linkcode fmix32}).
 *
 * @module
 */

/**
 * MurmurHash3's 32-bit finalizer: every input bit flips each output bit with odds near 1/2.
 *
 * @param h A 32-bit integer (other numbers are truncated to 32 bits).
 * @returns The mixed value, as an unsigned 32-bit integer.
 */
export function fmix32(h: number): number {
  h >>>= 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const FNV_HI = 0xcbf29ce4;
const FNV_LO = 0x84222325;
/** The UTF-8 bytes of one character, while hashing. */
const UTF8 = new Uint8Array(4);

/**
 * An FNV-1a 64 hash over UTF-8 (a lone surrogate counts as U+FFFD, as with `TextEncoder`), kept
 * as two unsigned 32-bit halves, `hi` and `lo`, so that hashing makes no object. The state is
 * four 16-bit limbs while hashing, so that every product stays exact in int32 arithmetic.
 */
export class Fnv64 {
  /** The high 32 bits of the hash so far. */
  hi: number = FNV_HI;
  /** The low 32 bits of the hash so far. */
  lo: number = FNV_LO;

  /** Starts a new hash, of no bytes. */
  reset(): this {
    this.hi = FNV_HI;
    this.lo = FNV_LO;
    return this;
  }

  /** Continues the hash over the UTF-8 bytes of `text`. */
  update(text: string): this {
    let h0 = this.lo & 0xffff;
    let h1 = this.lo >>> 16;
    let h2 = this.hi & 0xffff;
    let h3 = this.hi >>> 16;
    for (let i = 0; i < text.length; i++) {
      let code = text.charCodeAt(i);
      // The character's UTF-8 bytes: `byte` is the first, the others are in `UTF8`.
      let byte = code;
      let size = 1;
      if (code >= 0x80) {
        if (code < 0x800) {
          UTF8[0] = 0xc0 | (code >> 6);
          UTF8[1] = 0x80 | (code & 0x3f);
          size = 2;
        } else if (code >= 0xd800 && code <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
          code = 0x10000 + ((code - 0xd800) << 10) + (text.charCodeAt(++i) - 0xdc00);
          UTF8[0] = 0xf0 | (code >> 18);
          UTF8[1] = 0x80 | ((code >> 12) & 0x3f);
          UTF8[2] = 0x80 | ((code >> 6) & 0x3f);
          UTF8[3] = 0x80 | (code & 0x3f);
          size = 4;
        } else {
          if (code >= 0xd800 && code <= 0xdfff) code = 0xfffd;
          UTF8[0] = 0xe0 | (code >> 12);
          UTF8[1] = 0x80 | ((code >> 6) & 0x3f);
          UTF8[2] = 0x80 | (code & 0x3f);
          size = 3;
        }
        byte = UTF8[0];
      }
      for (let k = 1;; byte = UTF8[k++]) {
        // Multiply by the FNV prime, 2^40 + 0x1b3, modulo 2^64.
        h0 ^= byte;
        const t0 = h0 * 0x1b3;
        const t1 = h1 * 0x1b3 + (t0 >>> 16);
        const t2 = h2 * 0x1b3 + (h0 << 8) + (t1 >>> 16);
        h3 = (h3 * 0x1b3 + (h1 << 8) + (t2 >>> 16)) & 0xffff;
        h2 = t2 & 0xffff;
        h1 = t1 & 0xffff;
        h0 = t0 & 0xffff;
        if (k === size) break;
      }
    }
    this.hi = ((h3 << 16) | h2) >>> 0;
    this.lo = ((h1 << 16) | h0) >>> 0;
    return this;
  }

  /** The hash so far, as 16 lowercase hex digits. */
  hex(): string {
    return hashHex(this.hi, this.lo);
  }
}

/** The state of {@linkcode stableHash}, reused: hashing is synchronous. */
const SCRATCH = new Fnv64();

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));

/** A 64-bit hash given as two unsigned 32-bit halves, as 16 lowercase hex digits. */
export function hashHex(hi: number, lo: number): string {
  return HEX[hi >>> 24] + HEX[(hi >>> 16) & 0xff] + HEX[(hi >>> 8) & 0xff] + HEX[hi & 0xff] +
    HEX[lo >>> 24] + HEX[(lo >>> 16) & 0xff] + HEX[(lo >>> 8) & 0xff] + HEX[lo & 0xff];
}

/**
 * Returns the 64-bit FNV-1a hash of the UTF-8 bytes of `text`, as 16 lowercase hex digits. It is
 * stable across runs, machines and versions, which makes it fit for suffixes and sharding; it is
 * not a cryptographic hash.
 *
 * @param text Any text, e.g. a URL's `href`.
 * @returns 16 lowercase hex digits.
 * @throws {TypeError} When `text` is not a string.
 *
 * @example
 * ```ts
 * import { stableHash } from "./hash.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(stableHash(""), "cbf29ce484222325");
 * assert.equal(stableHash("a"), "af63dc4c8601ec8c");
 * assert.match(stableHash("https://example.com/cat.png"), /^[0-9a-f]{16}$/);
 * ```
 */
export function stableHash(text: string): string {
  if (typeof text !== "string") {
    throw new TypeError(`Cannot hash: expected a string, got ${typeof text}`);
  }
  return SCRATCH.reset().update(text).hex();
}
