/**
 * Benchmarks of file naming, the main thread's per-URL cost. The target is about 1 µs a URL:
 * the `allocate` benchmarks name 10,000 URLs an iteration, so divide their time by 10,000.
 *
 * Run with `deno bench bench/naming_bench.ts`.
 *
 * @module
 */

import { stableHash } from "../src/hash.ts";
import { NameAllocator } from "../src/name_table.ts";
import { baseName, sanitizeName } from "../src/naming.ts";

const BATCH = 10_000;

/** Typical URLs: distinct hosts and paths, mostly distinct file names. */
const unique = Array.from(
  { length: BATCH },
  (_, i) => new URL(`https://img${i % 50}.example.com/photos/${i % 1000}/IMG_${i}.jpg`),
);

/** The worst case: every URL wants the same name, so all but the first get a suffix. */
const colliding = Array.from(
  { length: BATCH },
  (_, i) => new URL(`https://img${i % 50}.example.com/photos/${i}/image.jpg`),
);

/** Percent-encoded, non-ASCII names, which need decoding and NFC. */
const encoded = Array.from(
  { length: BATCH },
  (_, i) => new URL(`https://img.example.com/p/%E6%97%A5%E6%9C%AC_e%CC%81_${i}.jpg`),
);

const url = unique[1234];
const href = url.href;

Deno.bench("baseName(url)", { group: "one" }, () => {
  baseName(url);
});

Deno.bench("sanitizeName(ascii)", { group: "one" }, () => {
  sanitizeName("IMG_1234.jpg");
});

Deno.bench("sanitizeName(unicode, reserved characters)", { group: "one" }, () => {
  sanitizeName("e\u0301t\u00e9: <a|b>?.jpg");
});

Deno.bench("stableHash(href)", { group: "one" }, () => {
  stableHash(href);
});

Deno.bench("allocate 10k unique names", { group: "allocate", baseline: true }, () => {
  const names = new NameAllocator();
  for (const url of unique) names.allocate(url);
});

Deno.bench("allocate 10k colliding names", { group: "allocate" }, () => {
  const names = new NameAllocator();
  for (const url of colliding) names.allocate(url);
});

Deno.bench("allocate 10k percent-encoded names", { group: "allocate" }, () => {
  const names = new NameAllocator();
  for (const url of encoded) names.allocate(url);
});

Deno.bench("allocate 10k duplicates", { group: "allocate" }, (b) => {
  const names = new NameAllocator();
  for (const url of unique) names.allocate(url);
  b.start();
  for (const url of unique) names.allocate(url);
  b.end();
});
