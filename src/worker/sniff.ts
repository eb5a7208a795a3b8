/**
 * Recognising images by their first bytes (magic numbers), whatever the Content-Type says.
 *
 * @module
 */

/**
 * The image formats {@linkcode sniffImage} recognises.
 *
 * @example File extensions for the formats
 * ```ts
 * import { type ImageType, sniffImage } from "./sniff.ts";
 * import assert from "node:assert/strict";
 *
 * const extension: Record<ImageType, string> = {
 *   png: "png",
 *   jpeg: "jpg",
 *   gif: "gif",
 *   webp: "webp",
 *   avif: "avif",
 *   bmp: "bmp",
 *   tiff: "tif",
 *   ico: "ico",
 *   svg: "svg",
 * };
 * const type = sniffImage(new Uint8Array([0xff, 0xd8, 0xff, 0xe0]));
 * assert.ok(type !== undefined && type !== "html");
 * assert.equal(extension[type], "jpg");
 * ```
 */
export type ImageType =
  | "png"
  | "jpeg"
  | "gif"
  | "webp"
  | "avif"
  | "bmp"
  | "tiff"
  | "ico"
  | "svg";

/**
 * How many leading bytes {@linkcode sniffImage} needs to decide in every case.
 *
 * @example Sniff the start of a file
 * ```ts
 * import { SNIFF_BYTES, sniffImage } from "./sniff.ts";
 * import assert from "node:assert/strict";
 *
 * const xml = `<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>`;
 * const svg = new TextEncoder().encode(xml);
 * assert.equal(sniffImage(svg.subarray(0, SNIFF_BYTES)), "svg");
 * ```
 */
export const SNIFF_BYTES = 4096;

const AVIF_BRANDS = new Set(["avif", "avis", "mif1", "msf1", "heic", "heix", "heim", "heis"]);

function ascii(bytes: Uint8Array, start: number, end: number): string {
  return String.fromCharCode(...bytes.subarray(start, Math.min(end, bytes.length)));
}

/**
 * Tells which image format some leading bytes belong to.
 *
 * Binary formats are decided from the first 12 bytes. SVG, being text, is recognised by an
 * `<svg` element in the first {@linkcode SNIFF_BYTES} bytes; an HTML page is not an image.
 *
 * @param head The first bytes of a body (up to {@linkcode SNIFF_BYTES} are looked at).
 * @returns The format, `"html"` for an HTML page, or `undefined` when it is neither.
 *
 * @example
 * ```ts
 * import { sniffImage } from "./sniff.ts";
 * import assert from "node:assert/strict";
 *
 * const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
 * assert.equal(sniffImage(png), "png");
 * assert.equal(sniffImage(new TextEncoder().encode("<!DOCTYPE html><p>Not found")), "html");
 * assert.equal(sniffImage(new TextEncoder().encode("plain text")), undefined);
 * ```
 */
export function sniffImage(head: Uint8Array): ImageType | "html" | undefined {
  const b = head;
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) {
    return b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a ? "png" : undefined;
  }
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "jpeg";
  if (b.length >= 6) {
    const six = ascii(b, 0, 6);
    if (six === "GIF87a" || six === "GIF89a") return "gif";
  }
  if (b.length >= 12 && ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 12) === "WEBP") return "webp";
  if (b.length >= 12 && ascii(b, 4, 8) === "ftyp" && AVIF_BRANDS.has(ascii(b, 8, 12))) {
    return "avif";
  }
  if (b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d) return "bmp";
  if (b.length >= 4) {
    if (b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0x00) return "tiff";
    if (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0x00 && b[3] === 0x2a) return "tiff";
    if (b[0] === 0 && b[1] === 0 && (b[2] === 1 || b[2] === 2) && b[3] === 0) return "ico";
  }
  // Text: SVG or HTML. Skip a BOM and leading white space.
  const text = new TextDecoder().decode(b.subarray(0, SNIFF_BYTES)).replace(/^\uFEFF?\s*/, "")
    .toLowerCase();
  if (!text.startsWith("<")) return undefined;
  if (
    text.startsWith("<!doctype html") || text.startsWith("<html") || /<(head|body)[\s>]/.test(text)
  ) {
    return "html";
  }
  if (/<svg[\s>]/.test(text)) return "svg";
  return undefined;
}
