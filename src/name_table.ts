/**
 * The name table of one run: {@linkcode NameAllocator} hands out file names that never collide
 * and spots repeated URLs, keeping no string, only 64-bit hashes in open-addressing tables of
 * typed arrays, so that millions of URLs cost a few bytes each.
 *
 * @module
 */

import { Fnv64, hashHex, stableHash } from "./hash.ts";
import { entryHref, type HeldName } from "./journal/index.ts";
import { redactUrl } from "./journal/redact.ts";
import { baseName, sanitizeName, withSuffix } from "./naming.ts";

/**
 * A set of 64-bit hashes with linear probing, in one typed array of (hi, lo) pairs, so that a
 * probe touches one cache line: 8 bytes a slot (9 with tags), at most 75 % full. The table grows
 * by half each time (not by doubling), so that it is on average a third smaller for millions of
 * URLs; a hash is mapped onto its any-size range by a multiplication (Lemire's "fastrange"). The
 * hash (0, 0) marks an empty slot, so it is stored as (0, 1).
 */
class HashSet64 {
  #slots: Uint32Array;
  #tags: Uint8Array | undefined;
  #capacity: number;
  #size = 0;
  #limit: number;

  constructor(tagged: boolean, capacity = 1024) {
    this.#capacity = capacity;
    this.#slots = new Uint32Array(2 * capacity);
    this.#tags = tagged ? new Uint8Array(capacity) : undefined;
    this.#limit = Math.floor(capacity * 0.75);
  }

  get size(): number {
    return this.#size;
  }

  /** The slot holding (hi, lo) when it is there, else `-1 - ` the empty slot to add it at. */
  find(hi: number, lo: number): number {
    if (hi === 0 && lo === 0) lo = 1;
    const slots = this.#slots;
    const capacity = this.#capacity;
    for (let slot = this.#home(hi, lo);;) {
      const h = slots[slot * 2];
      const l = slots[slot * 2 + 1];
      if (h === hi && l === lo) return slot;
      if (h === 0 && l === 0) return -1 - slot;
      if (++slot === capacity) slot = 0;
    }
  }

  /** Adds (hi, lo), which `find` just reported missing with `missing`, with an optional tag. */
  add(hi: number, lo: number, missing: number, tag = 0): void {
    if (hi === 0 && lo === 0) lo = 1;
    if (this.#size >= this.#limit) {
      this.#grow();
      this.#place(hi, lo, tag);
    } else {
      const slot = -1 - missing;
      this.#slots[slot * 2] = hi;
      this.#slots[slot * 2 + 1] = lo;
      if (this.#tags) this.#tags[slot] = tag;
    }
    this.#size++;
  }

  tag(slot: number): number {
    return this.#tags![slot];
  }

  setTag(slot: number, tag: number): void {
    this.#tags![slot] = tag;
  }

  /** The first slot to probe: 32 mixed bits of the hash, scaled to the capacity. */
  #home(hi: number, lo: number): number {
    const mixed = Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1) >>> 0;
    // Below the capacity: the product is at most (2^32 - 1) × capacity, and rounds by far less
    // than one capacity.
    return Math.floor((mixed * this.#capacity) / 4294967296);
  }

  #place(hi: number, lo: number, tag: number): void {
    const slots = this.#slots;
    const capacity = this.#capacity;
    let slot = this.#home(hi, lo);
    while (slots[slot * 2] !== 0 || slots[slot * 2 + 1] !== 0) {
      if (++slot === capacity) slot = 0;
    }
    slots[slot * 2] = hi;
    slots[slot * 2 + 1] = lo;
    if (this.#tags) this.#tags[slot] = tag;
  }

  #grow(): void {
    const slots = this.#slots;
    const tags = this.#tags;
    const old = this.#capacity;
    const capacity = Math.ceil(old * 1.5);
    if (capacity > 2 ** 28) {
      throw new RangeError("Cannot allocate more names: the name table is full");
    }
    this.#capacity = capacity;
    this.#slots = new Uint32Array(2 * capacity);
    this.#tags = tags ? new Uint8Array(capacity) : undefined;
    this.#limit = Math.floor(capacity * 0.75);
    for (let slot = 0; slot < old; slot++) {
      const hi = slots[slot * 2];
      const lo = slots[slot * 2 + 1];
      if (hi !== 0 || lo !== 0) this.#place(hi, lo, tags ? tags[slot] : 0);
    }
  }
}

/** What {@linkcode NameAllocator.allocate} decided for one URL. */
interface Allocation {
  /** The file name, unique in this run (compared case-insensitively). */
  name: string;
  /**
   * `true` when the same URL was allocated before with the same wanted name: `name` is then the
   * name it got the first time, and there is nothing new to download.
   */
  duplicate: boolean;
  /** When an earlier run gave this URL its name: the journal's record of it. */
  held?: HeldName;
}

/**
 * The names an earlier run gave, as the journal knows them: a name is held by the URL of its
 * record, for the life of the directory.
 */
export interface NameRegistry {
  /** The record holding `name` (case-insensitively); `hi` is the top half of its name hash. */
  holder(name: string, hi: number): HeldName | undefined;
  /** Marks a held name as met in this run; `true` when it was met before. */
  see(held: HeldName): boolean;
}

/** The highest level stored in a tag; higher levels live in a map. */
const TAG_OVERFLOW = 255;

/**
 * Hands out the file names of one run, deterministically: the same URLs in the same order get
 * the same names on every run.
 *
 * The first URL (in call order) to want a name gets it. A later, different URL that wants the
 * same name, compared case-insensitively after NFC (as on macOS and Windows), gets
 * `stem-HHHHHHHH.ext`, where `HHHHHHHH` are the first 8 hex digits of
 * {@linkcode stableHash}`(url.href)`; should that be taken too, all 16 digits, then those with
 * `-2`, `-3`, ... appended.
 *
 * A URL allocated again with the same wanted name is a duplicate: it gets the name it got the
 * first time, with `duplicate: true`. (The same URL with another wanted name is a new download.)
 *
 * Memory stays small for millions of URLs because no string is kept: taken names and allocated
 * URLs are 64-bit hashes in open-addressing tables of typed arrays, about 25 bytes per URL. Two
 * different names with the same hash only cost an unneeded suffix, still deterministic; two
 * different URLs with the same hash would make the second a "duplicate", a chance of about
 * n² / 2^65 for n URLs (3 in a million for 10 million URLs).
 *
 * @example
 * ```ts
 * import { NameAllocator } from "./name_table.ts";
 * import assert from "node:assert/strict";
 *
 * const names = new NameAllocator();
 * const first = names.allocate(new URL("https://a.example/x.png"));
 * const second = names.allocate(new URL("https://b.example/X.PNG"));
 * const again = names.allocate(new URL("https://a.example/x.png"));
 * assert.deepEqual(first, { name: "x.png", duplicate: false });
 * assert.match(second.name, /^X-[0-9a-f]{8}\.PNG$/);
 * assert.deepEqual(again, { name: "x.png", duplicate: true });
 * assert.equal(names.size, 2);
 * ```
 */
export class NameAllocator {
  /** Hashes of the taken names, lowercased. */
  #names = new HashSet64(false);
  /** Hashes of (href, wanted name), tagged with the level of the name they got. */
  #urls = new HashSet64(true);
  /** Levels of 255 and above, by URL hash; only reachable with crafted names. */
  #overflow = new Map<string, number>();
  /** The hash of the URL being allocated. */
  #urlHash = new Fnv64();
  /** The hash of the name last looked up by `#findName`. */
  #nameHash = new Fnv64();
  #registry: NameRegistry | undefined;

  /**
   * @param registry The names earlier runs gave (the journal): a URL found there keeps its
   * name, and another URL that wants it gets a suffix.
   */
  constructor(registry?: NameRegistry) {
    this.#registry = registry;
  }

  /** The number of names taken by {@linkcode NameAllocator.allocate}. */
  get size(): number {
    return this.#names.size;
  }

  /**
   * Allocates the file name for one URL: see the class for the rules.
   *
   * @param url The requested URL.
   * @param preferred A name given by the user (e.g. a CSV `name` column), used instead of the
   * URL's {@linkcode baseName} and sanitized the same way; an empty string counts as none.
   * @returns The name, and whether this URL (with this wanted name) was allocated before.
   * @throws {TypeError} When `url` is not a `URL` or `preferred` is not a string.
   *
   * @example
   * ```ts
   * import { NameAllocator } from "./name_table.ts";
   * import assert from "node:assert/strict";
   *
   * const names = new NameAllocator();
   * assert.equal(names.allocate(new URL("https://example.com/a/x.png")).name, "x.png");
   * assert.notEqual(names.allocate(new URL("https://example.com/b/x.png")).name, "x.png");
   * assert.equal(names.allocate(new URL("https://example.com/c.png"), "my cat.png").name, "my cat.png");
   * ```
   */
  allocate(url: URL, preferred?: string): Allocation {
    if (!(url instanceof URL)) {
      throw new TypeError(`Cannot allocate a file name: expected a URL, got ${typeof url}`);
    }
    if (preferred !== undefined && typeof preferred !== "string") {
      throw new TypeError(
        `Cannot allocate a file name: 'preferred' must be a string, got ${typeof preferred}`,
      );
    }
    // Names never depend on a password: the URL's identity is its redacted href.
    const href = redactUrl(url);
    const base = preferred ? sanitizeName(preferred) : baseName(url);

    const { hi: urlHi, lo: urlLo } = this.#urlHash.reset().update(href).update("\0").update(base);
    const slot = this.#urls.find(urlHi, urlLo);
    if (slot >= 0) {
      const level = this.#level(slot, urlHi, urlLo);
      return { name: candidate(base, href, level), duplicate: true };
    }

    // The first candidate that no one holds, or that this URL held in an earlier run. A URL that
    // got a suffix then found every lower candidate held by others, and names are never given
    // back, so it meets them again on its way to its own.
    for (let level = 0;; level++) {
      const name = candidate(base, href, level);
      const missing = this.#findName(name);
      if (missing >= 0) continue; // given in this run
      const held = this.#registry?.holder(name, this.#nameHash.hi);
      if (held) {
        if (held.entry.url !== href && entryHref(held.entry) !== href) continue; // another URL's
        return { name, duplicate: this.#registry!.see(held), held };
      }
      this.#take(missing, urlHi, urlLo, slot, level);
      return { name, duplicate: false };
    }
  }

  #level(slot: number, urlHi: number, urlLo: number): number {
    const level = this.#urls.tag(slot);
    return level === TAG_OVERFLOW ? this.#overflow.get(hashHex(urlHi, urlLo))! : level;
  }

  /** Records the name just looked up as taken, by the URL whose hash is (urlHi, urlLo). */
  #take(missing: number, urlHi: number, urlLo: number, slot: number, level: number): void {
    this.#names.add(this.#nameHash.hi, this.#nameHash.lo, missing);
    if (level >= TAG_OVERFLOW) this.#overflow.set(hashHex(urlHi, urlLo), level);
    this.#urls.add(urlHi, urlLo, slot, Math.min(level, TAG_OVERFLOW));
  }

  /**
   * Gives a URL its next name, because the one it was allocated is held on disk by another
   * URL's file (from an earlier run, another shard or another process): the URL moves to the
   * next free level of its suffixes, and keeps that name for the rest of the run.
   *
   * @param url The requested URL, as given to {@linkcode NameAllocator.allocate}.
   * @param preferred The wanted name, as given to {@linkcode NameAllocator.allocate}.
   * @returns The new name.
   *
   * @example
   * ```ts
   * import { NameAllocator } from "./name_table.ts";
   * import assert from "node:assert/strict";
   *
   * const names = new NameAllocator();
   * const url = new URL("https://example.com/cat.png");
   * assert.equal(names.allocate(url).name, "cat.png");
   * const moved = names.displace(url);
   * assert.match(moved, /^cat-[0-9a-f]{8}\.png$/);
   * assert.deepEqual(names.allocate(url), { name: moved, duplicate: true });
   * ```
   */
  displace(url: URL, preferred?: string): string {
    const href = redactUrl(url);
    const base = preferred ? sanitizeName(preferred) : baseName(url);
    const { hi: urlHi, lo: urlLo } = this.#urlHash.reset().update(href).update("\0").update(base);
    const slot = this.#urls.find(urlHi, urlLo);
    // Its level: from this run's table, or else the one of the name the journal gave it.
    let level = slot >= 0 ? this.#level(slot, urlHi, urlLo) : this.#heldLevel(base, href);
    let name: string;
    let missing: number;
    do {
      name = candidate(base, href, ++level);
      missing = this.#findName(name);
    } while (missing >= 0 || this.#registry?.holder(name, this.#nameHash.hi));
    this.#names.add(this.#nameHash.hi, this.#nameHash.lo, missing);
    if (level >= TAG_OVERFLOW) this.#overflow.set(hashHex(urlHi, urlLo), level);
    if (slot >= 0) this.#urls.setTag(slot, Math.min(level, TAG_OVERFLOW));
    else this.#urls.add(urlHi, urlLo, slot, Math.min(level, TAG_OVERFLOW));
    return name;
  }

  /** The level of the name the journal says `href` holds for `base`; 0 when none. */
  #heldLevel(base: string, href: string): number {
    if (!this.#registry) return 0;
    for (let level = 0; level < 64; level++) {
      const name = candidate(base, href, level);
      this.#findName(name);
      const held = this.#registry.holder(name, this.#nameHash.hi);
      if (!held) return 0;
      if (held.entry.url === href || entryHref(held.entry) === href) return level;
    }
    return 0;
  }

  /** Looks `name` up (case-insensitively) as `HashSet64.find` does; its hash stays in `#nameHash`. */
  #findName(name: string): number {
    const hash = this.#nameHash.reset().update(name.toLowerCase());
    return this.#names.find(hash.hi, hash.lo);
  }
}

/** The name at `level`: 0 the base, 1 with 8 hash digits, 2 with 16, then 16 and a counter. */
function candidate(base: string, href: string, level: number): string {
  if (level === 0) return base;
  const hash = stableHash(href);
  if (level === 1) return withSuffix(base, "-" + hash.slice(0, 8));
  if (level === 2) return withSuffix(base, "-" + hash);
  return withSuffix(base, `-${hash}-${level - 1}`);
}
