/**
 * What an image's first bytes tell without decoding it: its media type and, for PNG, JPEG, GIF
 * and WebP, its width and height (read from the header, in microseconds).
 *
 * @module
 */

import { type ImageType, sniffImage } from "./sniff.ts";

/** The media type of each kind of image. */
export const MIME: Record<ImageType, string> = {
  png: "image/png",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  avif: "image/avif",
  bmp: "image/bmp",
  tiff: "image/tiff",
  ico: "image/vnd.microsoft.icon",
  svg: "image/svg+xml",
};

/** The file extension of each media type, for a dataset's sample files. */
export const EXTENSION: Record<string, string> = {
  "image/png": "png",
  "image/jpeg": "jpg",
  "image/gif": "gif",
  "image/webp": "webp",
  "image/avif": "avif",
  "image/bmp": "bmp",
  "image/tiff": "tiff",
  "image/vnd.microsoft.icon": "ico",
  "image/svg+xml": "svg",
};

/** How many leading bytes {@linkcode imageInfo} looks at, at most (a JPEG's EXIF comes first). */
export const INFO_BYTES = 256 * 1024;

/** An image's media type and, when its header tells, its size. */
export interface ImageInfo {
  mime?: string;
  width?: number;
  height?: number;
}

/**
 * Reads the media type and the size from an image's first bytes.
 *
 * @param bytes The start of the file (or all of it).
 * @returns What the bytes tell; empty for what is not an image.
 *
 * @example
 * ```ts
 * import { imageInfo } from "./image_info.ts";
 * import assert from "node:assert/strict";
 *
 * const gif = new Uint8Array([0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 3, 0, 2, 0, 0, 0, 0]);
 * assert.deepEqual(imageInfo(gif), { mime: "image/gif", width: 3, height: 2 });
 * ```
 */
export function imageInfo(bytes: Uint8Array): ImageInfo {
  const type = sniffImage(bytes.subarray(0, 4096));
  if (type === undefined || type === "html") return {};
  const size = dimensions(bytes, type);
  return size ? { mime: MIME[type], ...size } : { mime: MIME[type] };
}

function dimensions(b: Uint8Array, type: ImageType): { width: number; height: number } | undefined {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const ok = (width: number, height: number) =>
    width > 0 && height > 0 ? { width, height } : undefined;
  switch (type) {
    case "png":
      return b.length >= 24 ? ok(view.getUint32(16), view.getUint32(20)) : undefined;
    case "gif":
      return b.length >= 10 ? ok(view.getUint16(6, true), view.getUint16(8, true)) : undefined;
    case "webp": {
      if (b.length < 30) return undefined;
      const chunk = String.fromCharCode(b[12]!, b[13]!, b[14]!, b[15]!);
      if (chunk === "VP8 ") {
        return ok(view.getUint16(26, true) & 0x3fff, view.getUint16(28, true) & 0x3fff);
      }
      if (chunk === "VP8L") {
        const bits = view.getUint32(21, true);
        return ok((bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1);
      }
      if (chunk === "VP8X") {
        const width = 1 + (b[24]! | (b[25]! << 8) | (b[26]! << 16));
        const height = 1 + (b[27]! | (b[28]! << 8) | (b[29]! << 16));
        return ok(width, height);
      }
      return undefined;
    }
    case "jpeg": {
      let i = 2;
      while (i + 9 < b.length) {
        if (b[i] !== 0xff) return undefined;
        const marker = b[i + 1]!;
        if (marker === 0xff) {
          i++; // fill byte
          continue;
        }
        if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd9)) {
          i += 2; // no length
          continue;
        }
        if (
          marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 &&
          marker !== 0xcc
        ) {
          return ok(view.getUint16(i + 7), view.getUint16(i + 5));
        }
        i += 2 + view.getUint16(i + 2);
      }
      return undefined;
    }
    default:
      return undefined;
  }
}
