/**
 * A dataset output (`webdataset` or `parquet`), on the main thread. Each input row has a key
 * from its position: shard `floor(position / shardSize)`, index `position % shardSize`. The
 * workers save each sample as loose files, `OUT/.downpour-samples/SHARD/KEY` (the image),
 * `KEY.json` and `KEY.txt`, by the same atomic commit as any download, so resuming stays per
 * URL. When every row of a shard has its final result, the shard is assembled: `SHARD.tar` (or
 * `SHARD.parquet` with the images), its metadata table and, last, `SHARD_stats.json`, each
 * written under a temporary name and renamed; then the loose files go. A shard with its stats
 * file is complete: a later run skips its rows. With `retryFailed`, a complete shard with
 * failures is reopened: its samples are put back as loose files and its stats file removed, so
 * the run fetches its failed rows again and assembles it anew.
 *
 * @module
 */

import { parquetMetadataAsync } from "../npm.ts";
import { fileBuffer, rowGroups } from "../input/parquet.ts";
import type { ResolvedOptions } from "../options.ts";
import type { DownloadResult } from "../types.ts";
import { EXTENSION } from "../worker/image_info.ts";
import { type MetaRow, writeTable } from "./table.ts";
import { readTar, TarWriter } from "./tar.ts";
import { sampleKey, SAMPLES_DIR, shardName } from "./keys.ts";

/** The reasons that make a row `skipped` rather than `failed` in the table. */
const SKIPS = new Set(["robots", "opt-out", "private"]);

/** The rows of one shard seen so far in this run. */
interface OpenShard {
  results: (DownloadResult | undefined)[];
  received: number;
  started: number;
}

/** Assembles the shards of one output directory as their rows finish. */
export class DatasetWriter {
  #out: string;
  #format: "webdataset" | "parquet";
  #size: number;
  #complete: Set<number>;
  #open = new Map<number, OpenShard>();
  /** Assemblies run one after another. */
  #queue: Promise<void> = Promise.resolve();
  #error: unknown;

  private constructor(options: ResolvedOptions, complete: Set<number>) {
    this.#out = options.out;
    this.#format = options.outputFormat as "webdataset" | "parquet";
    this.#size = options.shardSize;
    this.#complete = complete;
  }

  /**
   * Finds the complete shards of `options.out` (and, with `retryFailed`, reopens those with
   * failures); removes what a crash left of complete shards' loose files.
   */
  static async open(options: ResolvedOptions): Promise<DatasetWriter> {
    const complete = new Set<number>();
    for await (const entry of Deno.readDir(options.out)) {
      const match = /^(\d{5,})_stats\.json$/.exec(entry.name);
      if (match && entry.isFile) complete.add(Number(match[1]));
    }
    const writer = new DatasetWriter(options, complete);
    // The workers make each shard's directory in it (and this one again, should another process
    // sharding the same list remove it meanwhile, when it finds it empty).
    await Deno.mkdir(`${options.out}/${SAMPLES_DIR}`, { recursive: true });
    for (const shard of complete) {
      const stats = `${options.out}/${shardName(shard)}_stats.json`;
      if (options.retryFailed) {
        let failed = 0;
        try {
          failed = JSON.parse(await Deno.readTextFile(stats)).failed ?? 0;
        } catch {
          failed = 1; // unreadable: assemble it again
        }
        if (failed > 0) {
          await writer.#reopen(shard);
          await Deno.remove(stats);
          complete.delete(shard);
          continue;
        }
      }
      await Deno.remove(`${options.out}/${SAMPLES_DIR}/${shardName(shard)}`, { recursive: true })
        .catch(() => {});
    }
    return writer;
  }

  /** Whether the rows of `shard` are still to do (it is not complete). */
  owns(shard: number): boolean {
    return !this.#complete.has(shard);
  }

  /** The first assembly error, if any; the run stops on it. */
  get error(): unknown {
    return this.#error;
  }

  /**
   * Takes the final result of a row; assembles its shard when it is the shard's last.
   *
   * @param shard The row's shard.
   * @param index Its index in the shard.
   * @param result Its result.
   */
  add(shard: number, index: number, result: DownloadResult): void {
    let open = this.#open.get(shard);
    if (!open) {
      open = { results: [], received: 0, started: Date.now() };
      this.#open.set(shard, open);
    }
    if (open.results[index] === undefined) open.received++;
    open.results[index] = result;
    if (open.received === this.#size) this.#schedule(shard, this.#size);
  }

  #schedule(shard: number, count: number): void {
    const open = this.#open.get(shard)!;
    this.#open.delete(shard);
    this.#queue = this.#queue.then(async () => {
      if (this.#error !== undefined) return;
      try {
        await this.#assemble(shard, count, open);
      } catch (error) {
        this.#error = error;
      }
    });
  }

  /**
   * Assembles the shards still open once the input is done: each has all its rows, the last
   * maybe fewer than a shard's size; and waits for every assembly.
   *
   * @param total How many rows the input had.
   * @throws The first assembly error.
   */
  async finish(total: number): Promise<void> {
    for (const [shard, open] of [...this.#open]) {
      const count = Math.min(this.#size, total - shard * this.#size);
      if (open.received === count) this.#schedule(shard, count);
    }
    await this.#queue;
    if (this.#error !== undefined) throw this.#error;
    // The directory of loose samples goes when no sample is left in it.
    await Deno.remove(`${this.#out}/${SAMPLES_DIR}`).catch(() => {});
  }

  /** Waits for the assemblies under way, without starting others (the run is stopping). */
  async settle(): Promise<void> {
    await this.#queue;
  }

  async #assemble(shard: number, count: number, open: OpenShard): Promise<void> {
    const name = shardName(shard);
    const dir = `${this.#out}/${SAMPLES_DIR}/${name}`;
    const rows: MetaRow[] = [];
    const saved = new Set<string>();
    for (let index = 0; index < count; index++) {
      const result = open.results[index]!;
      const row = await this.#row(shard, index, result, dir);
      for (const column of Object.keys(row.columns)) saved.add(column);
      rows.push(row);
    }
    const savedNames = [...saved];
    const table = `${name}.parquet`;
    if (this.#format === "webdataset") {
      await this.#write(`${name}.tar`, async (file) => {
        const tar = new TarWriter(file);
        for (const row of rows) {
          if (row.status !== "success") continue;
          const image = await Deno.readFile(`${dir}/${row.key}`);
          const ext = EXTENSION[row.mime ?? ""] ?? "bin";
          await tar.add(`${row.key}.${ext}`, image);
          await tar.add(`${row.key}.json`, encoder.encode(JSON.stringify(sampleJson(row))));
          if (row.caption !== null) await tar.add(`${row.key}.txt`, encoder.encode(row.caption));
        }
        await tar.finish();
      });
      await this.#write(table, (file) => writeTable(file, rows, savedNames));
    } else {
      await this.#write(table, (file) =>
        writeTable(file, rows, savedNames, async (i) => {
          const row = rows[i]!;
          return row.status === "success" ? await Deno.readFile(`${dir}/${row.key}`) : null;
        }));
    }
    const stats = shardStats(rows, open.started);
    await this.#write(
      `${name}_stats.json`,
      (file) => file.write(encoder.encode(JSON.stringify(stats, null, 2) + "\n")).then(() => {}),
    );
    this.#complete.add(shard);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }

  /** Writes `OUT/NAME` under a temporary name, then renames it into place. */
  async #write(name: string, fill: (file: Deno.FsFile) => Promise<void>): Promise<void> {
    const temporary = `${this.#out}/.${name}.part`;
    {
      using file = await Deno.open(temporary, { write: true, create: true, truncate: true });
      await fill(file);
      await file.sync().catch(() => {});
    }
    await Deno.rename(temporary, `${this.#out}/${name}`);
  }

  /** The table row of one input row. */
  async #row(shard: number, index: number, result: DownloadResult, dir: string): Promise<MetaRow> {
    const key = sampleKey(shard, index);
    const row: MetaRow = {
      key,
      url: result.url,
      status: result.ok ? "success" : SKIPS.has(result.reason ?? "") ? "skipped" : "failed",
      error_message: result.error ?? null,
      reason: result.reason ?? null,
      http_status: result.status ?? null,
      bytes: result.ok ? result.bytes : 0,
      width: result.width ?? null,
      height: result.height ?? null,
      original_width: result.originalWidth ?? null,
      original_height: result.originalHeight ?? null,
      mime: result.mime ?? null,
      sha256: result.sha256 ?? null,
      caption: result.caption ?? null,
      columns: result.columns ?? {},
    };
    if (!result.ok) return row;
    // What the worker wrote beside the image: all of it, also for a sample of an earlier run.
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(await Deno.readTextFile(`${dir}/${key}.json`));
    } catch (error) {
      throw new Error(
        `the sample ${key} has no readable ${key}.json: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    const number = (value: unknown) => typeof value === "number" ? value : null;
    const text = (value: unknown) => typeof value === "string" ? value : null;
    row.http_status = number(json.http_status) ?? row.http_status;
    row.bytes = number(json.bytes) ?? row.bytes;
    row.width = number(json.width);
    row.height = number(json.height);
    row.original_width = number(json.original_width);
    row.original_height = number(json.original_height);
    row.mime = text(json.mime);
    row.sha256 = text(json.sha256) ?? row.sha256;
    return row;
  }

  /** Puts a complete shard's samples back as loose files, to fetch its failed rows again. */
  async #reopen(shard: number): Promise<void> {
    const name = shardName(shard);
    const dir = `${this.#out}/${SAMPLES_DIR}/${name}`;
    await Deno.mkdir(dir, { recursive: true });
    const put = async (file: string, data: Uint8Array) => {
      await Deno.writeFile(`${dir}/.${file}.part`, data);
      await Deno.rename(`${dir}/.${file}.part`, `${dir}/${file}`);
    };
    if (this.#format === "webdataset") {
      for await (const { name: entry, data } of readTar(`${this.#out}/${name}.tar`)) {
        const match = /^(\d+)\.(\w+)$/.exec(entry);
        if (!match) continue;
        const [, key, ext] = match;
        await put(ext === "json" || ext === "txt" ? `${key}.${ext}` : key!, data);
      }
      return;
    }
    using file = await Deno.open(`${this.#out}/${name}.parquet`);
    const buffer = await fileBuffer(file);
    const metadata = await parquetMetadataAsync(buffer);
    for await (const { rows } of rowGroups(buffer, metadata)) {
      for (const row of rows) {
        if (row.status !== "success" || !(row.image instanceof Uint8Array)) continue;
        const meta = Object.fromEntries(
          Object.entries(row).filter(([column]) => column !== "image").map((
            [column, value],
          ) => [column, typeof value === "bigint" ? Number(value) : value]),
        );
        const key = String(row.key);
        await put(key, row.image);
        await put(`${key}.json`, encoder.encode(JSON.stringify(meta)));
        if (typeof row.caption === "string") await put(`${key}.txt`, encoder.encode(row.caption));
      }
    }
  }
}

const encoder = new TextEncoder();

/** A sample's `KEY.json` in a tar: its table row, the saved columns at the top level. */
function sampleJson(row: MetaRow): Record<string, unknown> {
  const { columns, ...rest } = row;
  return { ...columns, ...rest };
}

/** A shard's `_stats.json`. */
function shardStats(rows: MetaRow[], started: number): Record<string, unknown> {
  const reasons: Record<string, number> = {};
  let bytes = 0;
  let successes = 0;
  let skipped = 0;
  for (const row of rows) {
    if (row.status === "success") {
      successes++;
      bytes += row.bytes;
    } else {
      if (row.status === "skipped") skipped++;
      reasons[row.reason ?? "unknown"] = (reasons[row.reason ?? "unknown"] ?? 0) + 1;
    }
  }
  const end = Date.now();
  return {
    count: rows.length,
    successes,
    failed: rows.length - successes - skipped,
    skipped,
    failures_by_reason: reasons,
    bytes,
    start_time: new Date(started).toISOString(),
    end_time: new Date(end).toISOString(),
    duration: (end - started) / 1000,
  };
}
