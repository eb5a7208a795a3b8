/**
 * Tar files in the POSIX ustar format, as WebDataset shards are: a writer that streams entries
 * into a file, and a reader of what the writer wrote (to reopen a shard). GNU tar, Python's
 * `tarfile` and the `webdataset` library read them.
 *
 * @module
 */

const encoder = new TextEncoder();
const BLOCK = 512;

/** Writes `value` as `length - 1` octal digits and a NUL. */
function octal(header: Uint8Array, offset: number, length: number, value: number): void {
  const digits = value.toString(8).padStart(length - 1, "0");
  if (digits.length > length - 1) throw new RangeError(`a tar field cannot hold ${value}`);
  header.set(encoder.encode(digits), offset);
}

/**
 * The 512-byte ustar header of a regular file.
 *
 * @param name The entry's name; over 100 bytes, it is split at a `/` into prefix and name.
 * @param size The file's size in bytes (under 8 GiB).
 * @param mtime Seconds since the epoch.
 * @returns The header.
 * @throws {RangeError} When the name cannot be put in a ustar header.
 */
export function tarHeader(name: string, size: number, mtime: number): Uint8Array {
  const header = new Uint8Array(BLOCK);
  let base = encoder.encode(name);
  let prefix = new Uint8Array(0);
  if (base.length > 100) {
    const slash = name.lastIndexOf("/");
    prefix = encoder.encode(name.slice(0, Math.max(0, slash)));
    base = encoder.encode(name.slice(slash + 1));
    if (slash < 0 || base.length > 100 || prefix.length > 155) {
      throw new RangeError(`the name ${JSON.stringify(name)} is too long for a tar header`);
    }
  }
  header.set(base, 0);
  octal(header, 100, 8, 0o644);
  octal(header, 108, 8, 0);
  octal(header, 116, 8, 0);
  octal(header, 124, 12, size);
  octal(header, 136, 12, mtime);
  header.fill(0x20, 148, 156); // the checksum is computed with its own field as spaces
  header[156] = 0x30; // a regular file
  header.set(encoder.encode("ustar\0"), 257);
  header.set(encoder.encode("00"), 263);
  header.set(prefix, 345);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.set(encoder.encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
  return header;
}

/** Streams entries into a tar file. */
export class TarWriter {
  #file: Deno.FsFile;
  #mtime = Math.floor(Date.now() / 1000);

  /** @param file The file to write to, open for writing, at its start. */
  constructor(file: Deno.FsFile) {
    this.#file = file;
  }

  async #write(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.length) at += await this.#file.write(bytes.subarray(at));
  }

  /**
   * Appends one file.
   *
   * @param name Its name in the archive.
   * @param data Its bytes.
   */
  async add(name: string, data: Uint8Array): Promise<void> {
    await this.#write(tarHeader(name, data.byteLength, this.#mtime));
    await this.#write(data);
    const pad = (BLOCK - (data.byteLength % BLOCK)) % BLOCK;
    if (pad > 0) await this.#write(new Uint8Array(pad));
  }

  /** Ends the archive with its two zero blocks (the file stays open). */
  async finish(): Promise<void> {
    await this.#write(new Uint8Array(2 * BLOCK));
  }
}

/**
 * The entries of a ustar file, as the {@linkcode TarWriter} writes them, one at a time.
 *
 * @param path The tar file.
 * @returns Each entry's name and bytes.
 * @throws {Error} When a header's checksum is wrong or the file ends inside an entry.
 */
export async function* readTar(path: string): AsyncGenerator<{ name: string; data: Uint8Array }> {
  using file = await Deno.open(path);
  const decoder = new TextDecoder();
  const read = async (size: number): Promise<Uint8Array | undefined> => {
    const bytes = new Uint8Array(size);
    let at = 0;
    while (at < size) {
      const n = await file.read(bytes.subarray(at));
      if (n === null) return at === 0 ? undefined : bytes.subarray(0, at);
      at += n;
    }
    return bytes;
  };
  const text = (bytes: Uint8Array) => decoder.decode(bytes).replace(/\0.*$/s, "");
  for (;;) {
    const header = await read(BLOCK);
    if (!header || header.every((byte) => byte === 0)) return;
    if (header.length < BLOCK) throw new Error(`'${path}' ends inside a tar header`);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
    if (sum !== parseInt(text(header.subarray(148, 156)).trim(), 8)) {
      throw new Error(`'${path}' has a tar header with a wrong checksum`);
    }
    const prefix = text(header.subarray(345, 500));
    const name = (prefix ? prefix + "/" : "") + text(header.subarray(0, 100));
    const size = parseInt(text(header.subarray(124, 136)).trim() || "0", 8);
    const data = await read(size) ?? new Uint8Array(0);
    if (data.length < size) throw new Error(`'${path}' ends inside the entry '${name}'`);
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (pad > 0) await read(pad);
    if (header[156] === 0x30 || header[156] === 0) yield { name, data };
  }
}
