/**
 * Small non-cryptographic hash steps shared by the naming, sharding, fault and image code.
 *
 * @module
 */

/**
 * MurmurHash3's 32-bit finalizer: every input bit flips each output bit with odds near 1/2.
 *
 * @param h A 32-bit integer (other numbers are truncated to 32 bits).
 * @returns The mixed value, as an unsigned 32-bit integer.
 *
 * @example
 * ```ts
 * import { fmix32 } from "./hash.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(fmix32(0), 0);
 * assert.notEqual(fmix32(1), fmix32(2));
 * assert.ok(fmix32(123) >= 0 && fmix32(123) < 2 ** 32);
 * ```
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
