/**
 * Parquet lists (LAION, COYO, DataComp, CC12M ship as such): read row group by row group with
 * `hyparquet`, only the columns asked for, so memory holds one row group's chosen columns at a
 * time, whatever the file's size. gzip, zstd, snappy, brotli and lz4 pages are decompressed by
 * `hyparquet-compressors`.
 *
 * @module
 */

import {
  type AsyncBuffer,
  compressors,
  type FileMetaData,
  parquetMetadataAsync,
  parquetReadObjects,
  parquetSchema,
} from "../npm.ts";
import { InputError } from "../errors.ts";
import { type ColumnChoice, placeColumns, rowExtras } from "./columns.ts";
import { type InputEntry, type InputProblem, toEntry } from "./entry.ts";

/**
 * The rows of a Parquet file a row group at a time (one group's rows in memory at once), each
 * group with the index of its first row; `columns` picks the columns (all by default).
 */
export async function* rowGroups(
  buffer: AsyncBuffer,
  metadata: FileMetaData,
  columns?: string[],
): AsyncGenerator<{ rowStart: number; rows: Awaited<ReturnType<typeof parquetReadObjects>> }> {
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    const rows = await parquetReadObjects({
      file: buffer,
      metadata,
      ...(columns ? { columns } : {}),
      rowStart,
      rowEnd,
      compressors,
    });
    yield { rowStart, rows };
    rowStart = rowEnd;
  }
}

/**
 * A file as hyparquet's `AsyncBuffer`: ranges read on demand. `Deno.FsFile` has no positioned
 * read, so reads are one after another (seek, then read).
 */
export async function fileBuffer(file: Deno.FsFile): Promise<AsyncBuffer> {
  const { size } = await file.stat();
  let chain: Promise<unknown> = Promise.resolve();
  return {
    byteLength: size,
    slice(start: number, end = size): Promise<ArrayBuffer> {
      const read = chain.then(async () => {
        const bytes = new Uint8Array(end - start);
        await file.seek(start, Deno.SeekMode.Start);
        let at = 0;
        while (at < bytes.length) {
          const n = await file.read(bytes.subarray(at));
          if (n === null) throw new Error(`the file ends at byte ${start + at}, before ${end}`);
          at += n;
        }
        return bytes.buffer;
      });
      chain = read.catch(() => {});
      return read;
    },
  };
}

/** A value made plain for JSON and for the messages between threads. */
function plain(value: unknown): unknown {
  if (typeof value === "bigint") {
    return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  }
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return new TextDecoder().decode(value);
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

const TEXT_TYPES = new Set(["UTF8", "STRING", "JSON", "ENUM"]);

/**
 * The entries and problems of a Parquet list at `path`: one per row, numbered from 1 (as
 * `line`). The URL column must hold text; a row whose URL or caption is not text is a problem.
 *
 * @param path The file.
 * @param choice The columns: the URL's (default `url`), a caption's, those to keep.
 * @returns The entries and problems, in the file's order.
 * @throws {InputError} When the file is not Parquet, a column asked for is missing, or the URL
 * column does not hold text.
 */
export async function* parquetEntries(
  path: string,
  choice?: ColumnChoice,
): AsyncGenerator<InputEntry | InputProblem> {
  using file = await Deno.open(path);
  const buffer = await fileBuffer(file);
  const head = new Uint8Array(await buffer.slice(0, Math.min(4, buffer.byteLength)));
  const tail = new Uint8Array(await buffer.slice(Math.max(0, buffer.byteLength - 4)));
  const magic = (bytes: Uint8Array) => new TextDecoder().decode(bytes) === "PAR1";
  if (buffer.byteLength < 12 || !magic(head) || !magic(tail)) {
    throw new InputError(
      `'${path}' is not a Parquet file (it does not start and end with PAR1); give --format for a text list`,
    );
  }
  let metadata: FileMetaData;
  try {
    metadata = await parquetMetadataAsync(buffer);
  } catch (error) {
    throw new InputError(`'${path}' is not a readable Parquet file: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const fields = parquetSchema(metadata).children.map((child) => child.element);
  const names = fields.map((field) => field.name);
  const places = placeColumns(names, choice, `the Parquet file '${path}'`);
  const url = fields[places.url]!;
  const text = url.type === "BYTE_ARRAY" &&
    (url.converted_type === undefined || TEXT_TYPES.has(url.converted_type) ||
      url.logical_type?.type === "STRING");
  if (!text || url.repetition_type === "REPEATED") {
    const kind = url.logical_type?.type ?? url.converted_type ?? url.type ?? "a group";
    throw new InputError(
      `the column '${url.name}' of '${path}' holds ${kind}, not text, so it cannot be the URLs; name the URL column with --url-col`,
      { columns: names },
    );
  }
  const wanted = [
    places.url,
    places.name,
    places.sha256,
    places.caption,
    ...places.save.map(([, i]) => i),
  ]
    .filter((index) => index !== -1);
  const columns = [...new Set(wanted)].map((index) => names[index]!);
  for await (const { rowStart, rows } of rowGroups(buffer, metadata, columns)) {
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      const field = (index: number) => {
        const value = row[names[index]!];
        return value instanceof Uint8Array ? new TextDecoder().decode(value) : value;
      };
      const line = rowStart + i + 1;
      const extras = rowExtras(places, (index) => plain(field(index)));
      if (places.caption !== -1) extras.caption = field(places.caption);
      const href = field(places.url);
      yield toEntry(
        line,
        href,
        places.name === -1 ? undefined : field(places.name),
        places.sha256 === -1 ? undefined : field(places.sha256),
        typeof href === "string" ? href : `row ${line}`,
        extras,
      );
    }
  }
}
