/**
 * The journal's index: what the journal says about each name, found without loading the
 * journal. One streaming pass over the file keeps, per record, a few bytes in typed arrays:
 *
 * - for every record that holds a name, one 64-bit key: the top 32 bits of the name's hash
 *   above the record's line number (and a "seen in this run" bit), sorted once the pass is done,
 *   so a name's records are found by binary search, oldest first;
 * - per line, half a byte of flags (a v2 record, a v1 one, saved or not);
 * - per 16 lines, the byte offset where the first of them starts.
 *
 * A record is read back when it is needed, from the file: its group of 16 lines (a few KiB),
 * from one offset to the next, with one positional read, through a small cache of the most
 * recently used groups (a re-run over the same list reads the journal in order, so mostly from
 * the cache; the shards of one list interleave it, and then each look-up reads a few KiB). That
 * is about 8.5 bytes per record: 10,000,000 records take about 85 MB.
 *
 * v2 records start with `{"h":"<16 hex digits of the name's hash>","ok":<true|false>`, so the
 * pass reads the hash and the outcome at fixed places without parsing the JSON; v1 lines (no
 * hash) are parsed. A line that is cut (a crash while writing) fails to parse when it is read
 * back, and counts as absent.
 *
 * At some 420 lines this module is over the core's usual 400, for a reason: it is one concept,
 * the index's typed arrays and the pass and look-ups that share their layout, which would not
 * read better apart.
 *
 * @module
 */

import { Fnv64 } from "../hash.ts";
import { redactUrl } from "./redact.ts";

/** The first line of a v2 journal; each line also says on its own which version it is. */
export const JOURNAL_HEADER = '{"downpour-journal":2}';

/** The journal version this code writes. */
export const JOURNAL_VERSION = 2;

/** The input entry of a failure, as it was given, to replay it with `--retry-failed`. */
export type RecordedInput = { url: string; [column: string]: unknown };

/** One record of the journal, v1 or v2, as read back. */
export interface JournalEntry {
  /** The URL, its password redacted; v2 records hold its `href`, v1 ones the URL as given. */
  url: string;
  ok: boolean;
  /** The file name the URL holds in the directory (v2; for v1, the last segment of `path`). */
  name?: string;
  /** Relative to the output directory. */
  path?: string;
  bytes?: number;
  sha256?: string;
  etag?: string;
  status?: number;
  reason?: string;
  error?: string;
  /** When it finished, as an ISO date (to the second). */
  at?: string;
  /** For a failure: the input entry as given (its URL redacted), to replay it. */
  input?: RecordedInput;
  /** The URL had a password, which the journal does not keep. */
  redacted?: boolean;
}

/** The name a journal record holds, found by {@linkcode JournalIndex.holder}. */
export interface HeldName {
  /** The record's position among the sorted keys, for {@linkcode JournalIndex.see}. */
  key: number;
  /** The record's line number in the journal. */
  line: number;
  /** The record: the URL that holds the name, and its last outcome. */
  entry: JournalEntry;
}

const FLAG_OK = 1;
const FLAG_V2 = 2;
const FLAG_V1 = 4;

const PREFIX = new TextEncoder().encode('{"h":"');
/** Where `t` (true) or `f` (false) of `"ok":` is in a v2 line. */
const OK_AT = 29;
const HEADER_START = new TextEncoder().encode('{"downpour-journal":');
const LINES_PER_OFFSET = 16;
/** The most bytes, and groups of lines, the read-back cache holds. */
const CACHE_BYTES = 1 << 20;
const CACHE_GROUPS = 1024;
/** A lower bound of a named record's size, to size the key array from the file's. */
const MIN_RECORD = 48;

if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
  throw new Error("downpour's journal index needs a little-endian machine");
}

const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX_VALUE["0123456789abcdef".charCodeAt(i)] = i;
  HEX_VALUE["0123456789ABCDEF".charCodeAt(i)] = i;
}

/** The record's name hash (the allocator's: FNV-1a 64 of the lowercased name). */
export function nameHash(name: string, into = new Fnv64()): Fnv64 {
  return into.reset().update(name.toLowerCase());
}

/** A record's `path` → its name: the last segment. */
function lastSegment(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** A parsed line → a journal entry, v1 or v2; `undefined` when it is not one. */
function toEntry(value: unknown): JournalEntry | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const entry = value as JournalEntry & { h?: string };
  if (typeof entry.url !== "string" || typeof entry.ok !== "boolean") return undefined;
  if (entry.h === undefined) {
    // v1: the URL as given, a path when saved, no name.
    if (entry.ok && typeof entry.path === "string") entry.name = lastSegment(entry.path);
  } else {
    delete entry.h;
  }
  return entry;
}

/** The URL of an entry as the allocator compares it: the redacted `href`. */
export function entryHref(entry: JournalEntry): string {
  try {
    return redactUrl(new URL(entry.url));
  } catch {
    return entry.url;
  }
}

/** The index of one journal file, as it was when it was opened. */
export class JournalIndex {
  #file: Deno.FsFile;
  /** Pairs of (line << 1 | seen, name hash's top 32 bits): 64-bit keys, little-endian. */
  #keys: Uint32Array;
  #count = 0;
  /** Each line's flags, in 4 bits: two lines a byte. */
  #flags: Uint8Array;
  #offsets: Float64Array;
  #lines = 0;
  /** The bytes indexed: the file up to the last complete line. */
  #end = 0;
  /** The file ends with a cut line. */
  #torn = false;
  /** Groups of lines read back, least recently used first, and their bytes in all. */
  #groups = new Map<number, Uint8Array>();
  #cached = 0;
  #decoder = new TextDecoder();
  #hash = new Fnv64();

  private constructor(file: Deno.FsFile, size: number) {
    this.#file = file;
    this.#keys = new Uint32Array(2 * (Math.ceil(size / MIN_RECORD) + 256));
    const lines = Math.ceil(size / 16) + 256;
    this.#flags = new Uint8Array(Math.ceil(lines / 2));
    this.#offsets = new Float64Array(Math.ceil(lines / LINES_PER_OFFSET) + 1);
  }

  /** Whether the file ended with a cut line (the next write must start a new one). */
  get torn(): boolean {
    return this.#torn;
  }

  /** The lines indexed. */
  get lines(): number {
    return this.#lines;
  }

  /**
   * Indexes the journal at `path`, in one streaming pass.
   *
   * @returns The index, or `undefined` when there is no journal.
   * @throws When the journal was written by a newer version of downpour.
   */
  static build(path: string): JournalIndex | undefined {
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(path, { read: true });
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
    try {
      const index = new JournalIndex(file, file.statSync().size);
      index.#scan(path);
      return index;
    } catch (error) {
      file.close();
      throw error;
    }
  }

  #scan(path: string): void {
    let buffer = new Uint8Array(1 << 20);
    let filled = 0;
    let base = 0; // the file offset of buffer[0]
    for (;;) {
      if (filled === buffer.length) {
        const larger = new Uint8Array(buffer.length * 2); // one line longer than the buffer
        larger.set(buffer);
        buffer = larger;
      }
      const n = this.#file.readSync(buffer.subarray(filled));
      if (n === null || n === 0) break;
      filled += n;
      let start = 0;
      for (;;) {
        const end = buffer.indexOf(0x0a, start);
        if (end === -1 || end >= filled) break;
        this.#line(buffer, start, end, base + start, path);
        start = end + 1;
      }
      // Keep the cut line for the next read.
      buffer.copyWithin(0, start, filled);
      filled -= start;
      base += start;
    }
    this.#end = base;
    this.#torn = filled > 0;
    new BigUint64Array(this.#keys.buffer, 0, this.#count).sort();
  }

  #line(bytes: Uint8Array, start: number, end: number, offset: number, path: string): void {
    const line = this.#lines++;
    if (line >= 2 * this.#flags.length) this.#flags = grow(this.#flags);
    if (line % LINES_PER_OFFSET === 0) {
      if (line / LINES_PER_OFFSET >= this.#offsets.length) this.#offsets = grow(this.#offsets);
      this.#offsets[line / LINES_PER_OFFSET] = offset;
    }
    if (end === start) return;
    if (end - start > OK_AT && startsWith(bytes, start, PREFIX) && bytes[end - 1] === 0x7d) {
      let hi = 0;
      for (let i = start + 6; i < start + 14; i++) {
        const value = HEX_VALUE[bytes[i]];
        if (value === undefined || value < 0) return;
        hi = hi * 16 + value;
      }
      const ok = bytes[start + OK_AT] === 0x74;
      this.#setFlags(line, FLAG_V2 | (ok ? FLAG_OK : 0));
      this.#add(hi, line);
      return;
    }
    const text = this.#decoder.decode(bytes.subarray(start, end));
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return; // a line cut by a crash: as if it were not there
    }
    if (startsWith(bytes, start, HEADER_START)) {
      const version = (value as Record<string, unknown>)["downpour-journal"];
      if (typeof version === "number" && version > JOURNAL_VERSION) {
        throw new Error(
          `Cannot read the journal '${path}': it was written by a newer downpour (version ${version}); upgrade, or use another directory`,
        );
      }
      return;
    }
    const entry = toEntry(value);
    if (!entry) return;
    this.#setFlags(line, FLAG_V1 | (entry.ok ? FLAG_OK : 0));
    if (entry.name !== undefined) this.#add(nameHash(entry.name, this.#hash).hi, line);
  }

  /** Sets a line's flags, once: its half byte is 0 until then. */
  #setFlags(line: number, flags: number): void {
    this.#flags[line >>> 1] |= flags << ((line & 1) * 4);
  }

  #flagsOf(line: number): number {
    return (this.#flags[line >>> 1] >>> ((line & 1) * 4)) & 0xf;
  }

  #add(hi: number, line: number): void {
    if (2 * this.#count >= this.#keys.length) this.#keys = grow(this.#keys);
    this.#keys[2 * this.#count] = line * 2;
    this.#keys[2 * this.#count + 1] = hi;
    this.#count++;
  }

  /**
   * The record that holds `name` (compared case-insensitively): the last saved one, or when none
   * was saved, the last one.
   *
   * @param name The file name.
   * @param hi The top 32 bits of its {@linkcode nameHash}.
   */
  holder(name: string, hi: number): HeldName | undefined {
    const keys = this.#keys;
    let low = 0;
    let high = this.#count;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (keys[2 * middle + 1] < hi) low = middle + 1;
      else high = middle;
    }
    let last = low;
    while (last < this.#count && keys[2 * last + 1] === hi) last++;
    if (last === low) return undefined;
    const lower = name.toLowerCase();
    // A saved record wins over a later failure: a failure never takes a name from a file.
    for (const saved of [true, false]) {
      for (let key = last - 1; key >= low; key--) {
        const line = keys[2 * key] >>> 1;
        if (((this.#flagsOf(line) & FLAG_OK) !== 0) !== saved) continue;
        const entry = this.entry(line);
        if (entry?.name !== undefined && entry.name.toLowerCase() === lower) {
          return { key, line, entry };
        }
      }
    }
    return undefined;
  }

  /**
   * Marks a held name as met in this run.
   *
   * @returns Whether it had been met before (the URL is then a duplicate).
   */
  see(held: HeldName): boolean {
    const seen = (this.#keys[2 * held.key] & 1) === 1;
    this.#keys[2 * held.key] |= 1;
    return seen;
  }

  /** The record on `line`, read back from the file; `undefined` when it is not one. */
  entry(line: number): JournalEntry | undefined {
    const text = this.#text(line);
    if (text === undefined) return undefined;
    try {
      return toEntry(JSON.parse(text));
    } catch {
      return undefined;
    }
  }

  /**
   * The failures to retry, in the order they were recorded: each URL whose last outcome is a
   * failure (and that no saved record of its name supersedes).
   */
  *failures(): Generator<JournalEntry> {
    // v1 failures hold no name: they are gathered by URL, and dropped by a later record.
    const v1 = new Map<string, JournalEntry>();
    for (let line = 0; line < this.#lines; line++) {
      const flags = this.#flagsOf(line);
      if (v1.size > 0 && flags !== 0) {
        const entry = this.entry(line);
        if (entry) v1.delete(entryHref(entry));
      }
      if ((flags & FLAG_OK) !== 0 || flags === 0) continue;
      const entry = this.entry(line);
      if (!entry) continue;
      if ((flags & FLAG_V1) !== 0) {
        v1.set(entryHref(entry), entry);
      } else if (entry.name !== undefined) {
        const held = this.holder(entry.name, nameHash(entry.name, this.#hash).hi);
        if (held?.line === line) yield entry;
      }
    }
    yield* v1.values();
  }

  /** Closes the file. */
  close(): void {
    this.#file.close();
    this.#groups.clear();
    this.#cached = 0;
  }

  /** The text of `line`, from its group of lines. */
  #text(line: number): string | undefined {
    if (line >= this.#lines) return undefined;
    const group = this.#group(Math.floor(line / LINES_PER_OFFSET));
    let at = 0;
    for (let skip = line % LINES_PER_OFFSET; skip > 0; skip--) {
      const newline = group.indexOf(0x0a, at);
      if (newline === -1) return undefined;
      at = newline + 1;
    }
    const newline = group.indexOf(0x0a, at);
    return this.#decoder.decode(group.subarray(at, newline === -1 ? group.length : newline));
  }

  /**
   * The bytes of the 16 lines of `group` (from one offset to the next: a few KiB), read with one
   * positional read, through a cache of the most recently used groups.
   */
  #group(group: number): Uint8Array {
    let bytes = this.#groups.get(group);
    if (bytes) {
      // Most recently used: last in the map's order.
      this.#groups.delete(group);
      this.#groups.set(group, bytes);
      return bytes;
    }
    const from = this.#offsets[group];
    const to = (group + 1) * LINES_PER_OFFSET < this.#lines ? this.#offsets[group + 1] : this.#end;
    bytes = new Uint8Array(Math.max(0, to - from));
    this.#file.seekSync(from, Deno.SeekMode.Start);
    let filled = 0;
    while (filled < bytes.length) {
      const n = this.#file.readSync(bytes.subarray(filled));
      if (n === null || n === 0) break;
      filled += n;
    }
    bytes = bytes.subarray(0, filled);
    if (bytes.length <= CACHE_BYTES / 4) {
      this.#groups.set(group, bytes);
      this.#cached += bytes.length;
      while (this.#cached > CACHE_BYTES || this.#groups.size > CACHE_GROUPS) {
        const [oldest, evicted] = this.#groups.entries().next().value!;
        this.#groups.delete(oldest);
        this.#cached -= evicted.length;
      }
    }
    return bytes;
  }
}

function startsWith(bytes: Uint8Array, start: number, prefix: Uint8Array): boolean {
  for (let i = 0; i < prefix.length; i++) {
    if (bytes[start + i] !== prefix[i]) return false;
  }
  return true;
}

function grow<T extends Uint8Array | Uint32Array | Float64Array>(array: T): T {
  const larger = new (array.constructor as new (length: number) => T)(array.length * 2);
  larger.set(array);
  return larger;
}
