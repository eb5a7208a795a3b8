/**
 * The npm packages the library uses, pinned, in one place: Parquet reading (`hyparquet`, with
 * `hyparquet-compressors` for gzip, zstd, brotli and lz4 pages) and writing
 * (`hyparquet-writer`). `sharp` is loaded on its own, only when resizing (`worker/resize.ts`).
 *
 * @module
 */

export * from "npm:hyparquet@1.33.0";
export { compressors } from "npm:hyparquet-compressors@1.1.2";
export { ByteWriter, ParquetWriter, schemaFromColumnData } from "npm:hyparquet-writer@0.17.0";
export type { ColumnSource } from "npm:hyparquet-writer@0.17.0";
