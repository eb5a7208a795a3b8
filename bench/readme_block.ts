/**
 * Replacing the generated part of a document: the text between a start and an end marker.
 *
 * @module
 */

/**
 * Replaces what lies between `start` and `end` (both kept) with `content`, surrounded by blank
 * lines. Everything outside the markers is left byte for byte as it was.
 *
 * @param text The document.
 * @param start The start marker, e.g. `<!-- bench:start -->`.
 * @param end The end marker, which must come after the start marker.
 * @param content The new text between them.
 * @returns The new document, or `undefined` when the markers are not both there, in order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { replaceBlock } from "./readme_block.ts";
 *
 * const doc = "# A\n\n<!-- s -->\nold\n<!-- e -->\n\nrest\n";
 * assert.equal(
 *   replaceBlock(doc, "<!-- s -->", "<!-- e -->", "new"),
 *   "# A\n\n<!-- s -->\n\nnew\n\n<!-- e -->\n\nrest\n",
 * );
 * assert.equal(replaceBlock("no markers", "<!-- s -->", "<!-- e -->", "new"), undefined);
 * ```
 */
export function replaceBlock(
  text: string,
  start: string,
  end: string,
  content: string,
): string | undefined {
  const from = text.indexOf(start);
  if (from < 0) return undefined;
  const to = text.indexOf(end, from + start.length);
  if (to < 0) return undefined;
  return `${text.slice(0, from + start.length)}\n\n${content.trim()}\n\n${text.slice(to)}`;
}
