/** The npm packages the tests use, pinned: DuckDB (an independent Parquet reader) and a writer of Parquet lists. */

export { type ColumnSource, parquetWriteBuffer } from "npm:hyparquet-writer@0.17.0";
export { DuckDBInstance } from "npm:@duckdb/node-api@1.5.6-r.1";
