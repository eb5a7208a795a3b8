/**
 * A shard's metadata table, as Parquet (with `hyparquet-writer`): one row per input row,
 * failures included, in the columns img2dataset writes, plus the saved columns; for the
 * `parquet` output, with the images in a binary column `image`. Written row group by row group
 * into a file, so only one group's images are in memory.
 *
 * @module
 */

import { ByteWriter, type ColumnSource, ParquetWriter, schemaFromColumnData } from "../npm.ts";

/** One row of a shard's metadata table. */
export interface MetaRow {
  key: string;
  url: string;
  /** `success`, `failed`, or `skipped` (refused by robots.txt, an opt-out or `denyPrivate`). */
  status: "success" | "failed" | "skipped";
  error_message: string | null;
  /** The failure's reason (`http`, `timeout`, …), as in the results. */
  reason: string | null;
  http_status: number | null;
  bytes: number;
  width: number | null;
  height: number | null;
  original_width: number | null;
  original_height: number | null;
  mime: string | null;
  sha256: string | null;
  caption: string | null;
  /** The saved columns, by name. */
  columns: Record<string, unknown>;
}

/** The fixed columns of the table and their Parquet types, in order. */
const FIXED: [keyof MetaRow, ColumnSource["type"], boolean][] = [
  ["key", "STRING", false],
  ["url", "STRING", false],
  ["status", "STRING", false],
  ["error_message", "STRING", true],
  ["reason", "STRING", true],
  ["http_status", "INT32", true],
  ["bytes", "INT64", false],
  ["width", "INT32", true],
  ["height", "INT32", true],
  ["original_width", "INT32", true],
  ["original_height", "INT32", true],
  ["mime", "STRING", true],
  ["sha256", "STRING", true],
  ["caption", "STRING", true],
];

/** The names of the fixed columns: saved columns may not take them. */
export const TABLE_COLUMNS: readonly string[] = [...FIXED.map(([name]) => name), "image"];

/** Rows in a row group of a table with images. */
const IMAGE_GROUP = 256;

/** The Parquet type of a saved column, from its values in this shard. */
function savedType(
  values: unknown[],
): { type: ColumnSource["type"]; map: (v: unknown) => unknown } {
  const present = values.filter((value) => value !== null && value !== undefined);
  if (present.every((value) => typeof value === "string")) {
    return { type: "STRING", map: (v) => v ?? null };
  }
  if (present.every((value) => typeof value === "boolean")) {
    return { type: "BOOLEAN", map: (v) => v ?? null };
  }
  if (present.every((value) => typeof value === "number")) {
    return { type: "DOUBLE", map: (v) => v ?? null };
  }
  return {
    type: "STRING",
    map: (v) =>
      v === null || v === undefined ? null : typeof v === "string" ? v : JSON.stringify(v),
  };
}

/** A writer of hyparquet-writer's that appends to a file at each row group. */
function fileWriter(file: Deno.FsFile): ByteWriter {
  const writer = new ByteWriter() as ByteWriter & {
    index: number;
    flush(): Promise<void>;
    finish(): Promise<void>;
  };
  writer.flush = async () => {
    const bytes = new Uint8Array(writer.buffer, 0, writer.index);
    let at = 0;
    while (at < bytes.length) at += await file.write(bytes.subarray(at));
    writer.index = 0;
  };
  writer.finish = () => writer.flush();
  return writer;
}

/**
 * Writes a table into `file`.
 *
 * @param file The file, open for writing at its start; left open.
 * @param rows The rows, in key order.
 * @param saved The saved columns' names, in order.
 * @param images For the `parquet` output: the image of a row (by its index), `null` for none.
 */
export async function writeTable(
  file: Deno.FsFile,
  rows: MetaRow[],
  saved: string[],
  images?: (index: number) => Promise<Uint8Array | null>,
): Promise<void> {
  const types = saved.map((name) => savedType(rows.map((row) => row.columns[name])));
  const columns = (from: number, to: number, pictures?: (Uint8Array | null)[]): ColumnSource[] => {
    const slice = rows.slice(from, to);
    const data: ColumnSource[] = FIXED.map(([name, type, nullable]) => ({
      name,
      type,
      nullable,
      data: slice.map((row) => {
        const value = row[name] as unknown;
        return type === "INT64" ? BigInt(value as number) : value ?? null;
      }),
    }));
    saved.forEach((name, i) => {
      const { type, map } = types[i]!;
      data.push({ name, type, nullable: true, data: slice.map((row) => map(row.columns[name])) });
    });
    if (pictures) {
      data.push({
        name: "image",
        type: "BYTE_ARRAY",
        nullable: true,
        data: pictures,
        codec: "UNCOMPRESSED",
        statistics: false,
      });
    }
    return data;
  };
  const schema = schemaFromColumnData({
    columnData: columns(0, 0, images ? [] : undefined).map((column) => ({ ...column, data: [] })),
  });
  const writer = new ParquetWriter({ writer: fileWriter(file), schema });
  const group = images ? IMAGE_GROUP : Math.max(1, rows.length);
  for (let from = 0; from < rows.length; from += group) {
    const to = Math.min(rows.length, from + group);
    let pictures: (Uint8Array | null)[] | undefined;
    if (images) {
      pictures = [];
      for (let i = from; i < to; i++) pictures.push(await images(i));
    }
    await writer.write({ columnData: columns(from, to, pictures), rowGroupSize: group });
  }
  await writer.finish();
}
