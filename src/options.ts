/**
 * The options of {@linkcode download}: their types and docs ({@linkcode DownloadOptions}), and
 * one rule per option ({@linkcode OPTION_RULES}) that checks a caller's value, fills in the
 * default and, for the command, names its flag, its help line and how its text is read. The
 * compiler ties the two: an option without a rule, or a rule without an option, does not
 * type-check. The CLI's parser and help, the library's validation and the workers' configuration
 * are all derived from these two declarations. (It is long because it is a table: a few lines an
 * option, each option in one place.)
 *
 * @module
 */

/**
 * Options for {@linkcode download}. Only `out` is required.
 *
 * @example
 * ```ts
 * import { DEFAULTS, type DownloadOptions } from "./options.ts";
 * import assert from "node:assert/strict";
 *
 * const options: DownloadOptions = { out: "images", perHost: 2 };
 * assert.equal(options.concurrency ?? DEFAULTS.concurrency, 64);
 * ```
 */
export interface DownloadOptions {
  /** The directory files go to; created if missing. */
  out: string;
  /** How many Web Workers fetch and write. Default: `navigator.hardwareConcurrency`. */
  workers?: number;
  /**
   * The most downloads in flight per worker. Default: 64. The run starts at 16 per worker (or
   * this, if fewer) and grows towards it while more in flight brings more throughput.
   */
  concurrency?: number;
  /**
   * Downloads in flight per host (`host:port`), across all workers. Default: 6, as browsers do,
   * growing to 12 for a host whose requests take 40 ms or more and that never throttles nor
   * stalls; when given, a fixed bound.
   */
  perHost?: number;
  /** Retries after a network error, a timeout or status 408, 429, 500, 502, 503 or 504. Default: 3. */
  retries?: number;
  /** The largest body kept, in bytes, counted as it arrives (after decompression). Default: 64 MiB. */
  maxBytes?: number;
  /** Keep any kind of file, not only images recognised by their magic bytes. Default: false. */
  anyType?: boolean;
  /**
   * Compute each saved file's SHA-256, for the results (`sha256`) and the journal. Default: false,
   * since it costs CPU (about 13 µs for 22 KB, a quarter of the time of a large file on loopback).
   * A file whose input entry gives a `sha256` is always hashed and checked.
   */
  digest?: boolean;
  /** Milliseconds to wait for a connection and the response headers. Default: 30,000. */
  headersTimeout?: number;
  /**
   * Milliseconds without a single body byte after which a download is abandoned; a body of known
   * length up to 128 KiB is read in one go and must arrive whole within it (or sooner, at its
   * host's learned pace). Default: 30,000.
   */
  idleTimeout?: number;
  /** Milliseconds one attempt may take in all; 0 means no limit. Default: 0. */
  totalTimeout?: number;
  /**
   * The low-speed limit, in bytes a second, as curl's `--speed-limit`: a body that arrives slower
   * than this on average over `lowSpeedTime` is abandoned (reason `timeout`); 0 turns it off.
   * Default: 1,024.
   */
  lowSpeedLimit?: number;
  /** Milliseconds over which the speed is averaged for `lowSpeedLimit`. Default: 30,000. */
  lowSpeedTime?: number;
  /** Redirects followed per request (http and https only). Default: 10. */
  maxRedirects?: number;
  /** The User-Agent header. Default: `downpour/VERSION`. */
  userAgent?: string;
  /**
   * Keep a journal in `out` (`.downpour-journal.jsonl`): URLs it records as saved, whose file is
   * still there with the same size, are skipped without a request. Default: true.
   */
  journal?: boolean;
  /** `flat` puts every file in `out`; `shard` puts the Nth URL of the input in `out/NNNN/` (1,000 a directory). Default: flat. */
  layout?: "flat" | "shard";
  /** Requests per second per host, as a token bucket; 0 means no limit. Default: 0. */
  rate?: number;
  /**
   * Fetch each host's robots.txt once, skip the URLs it disallows for our user agent and keep
   * its `Crawl-delay` as the least time between two requests to that host. Default: false.
   */
  robots?: boolean;
  /**
   * Refuse URLs, redirects and robots.txt fetches whose host is, or resolves to, a loopback,
   * private, link-local or unique-local address (against SSRF, for services that take URLs from
   * others). The guard holds at connect time: every connection goes through an in-process proxy
   * that resolves the host once, checks every answer and connects to exactly a checked address,
   * so a DNS server that answers differently to the check and to the connection (DNS rebinding)
   * gets nowhere. It needs `--allow-net` for any host (it listens on 127.0.0.1 and connects to
   * the addresses it checked). Default: false.
   */
  denyPrivate?: boolean;
  /** Skip responses whose `X-Robots-Tag` says `noai` or `noimageai`. Default: false. */
  honorNoAi?: boolean;
  /** Keep only the URLs in this shard of the input: `{ index: K, count: N }`, by a stable hash of the URL. */
  shard?: { index: number; count: number };
  /**
   * What the output is. `files`: each image a file in `out`, named from its URL (with a caption
   * or saved columns, `NAME.txt` and `NAME.json` beside it). `webdataset`: `out/00000.tar`, … of
   * `shardSize` input rows each, a sample being `KEY.ext` + `KEY.json` + `KEY.txt` (with a
   * caption), and beside each tar its metadata table `00000.parquet` (one row per input row,
   * failures included). `parquet`: `out/00000.parquet`, …: the metadata table with the images in
   * a binary column `image`. Every shard also gets `00000_stats.json`. A shard's files appear,
   * each by a rename, once all of its rows are done. Default: files.
   */
  outputFormat?: "files" | "webdataset" | "parquet";
  /** Input rows a `webdataset` or `parquet` shard holds. Default: 10,000. */
  shardSize?: number;
  /**
   * How images are resized, in the workers: `no`, `border` (fit in `imageSize` squared, padded
   * with black), `keep-ratio` (fit, no padding) or `center-crop` (fill, then crop). Anything but
   * `no` decodes every image fully (a decode failure is a failed row, reason `image`) and
   * re-encodes it in `encodeFormat`; it loads `sharp`, which needs `--allow-ffi --allow-env`.
   * Default: no.
   */
  resizeMode?: "no" | "border" | "keep-ratio" | "center-crop";
  /** The side, in pixels, images are resized to. Default: 256. */
  imageSize?: number;
  /** The format resized images are encoded in. Default: jpg. */
  encodeFormat?: "jpg" | "png" | "webp";
  /** The quality of jpg and webp encoding, 1 to 100. Default: 95. */
  encodeQuality?: number;
  /** Images whose width or height is below this are failed rows (reason `image`). Default: 0. */
  minImageSize?: number;
  /** Images whose long side is over this many times the short side are failed rows; 0: no limit. Default: 0. */
  maxAspectRatio?: number;
  /**
   * With `webdataset` or `parquet` output: the failed rows of shards that earlier runs completed
   * are fetched again, and those shards rewritten (each at once, by renaming). Default: false.
   */
  retryFailed?: boolean;
  /** Stops the run: nothing more is dispatched, downloads in flight are aborted and their temporary files removed. */
  signal?: AbortSignal;
}

/** The options that may stay unset after resolution: they have no default. */
type Unset = "shard" | "signal";

/**
 * {@linkcode DownloadOptions} with every default filled in; what the engine uses.
 */
export type ResolvedOptions =
  & Required<Omit<DownloadOptions, Unset>>
  & Pick<DownloadOptions, Unset>;

/** The options a worker needs, picked from the resolved options by {@linkcode workerConfig}. */
export const WORKER_OPTIONS = [
  "out",
  "maxBytes",
  "anyType",
  "digest",
  "headersTimeout",
  "idleTimeout",
  "totalTimeout",
  "lowSpeedLimit",
  "lowSpeedTime",
  "maxRedirects",
  "userAgent",
  "denyPrivate",
  "honorNoAi",
  "outputFormat",
  "resizeMode",
  "imageSize",
  "encodeFormat",
  "encodeQuality",
  "minImageSize",
  "maxAspectRatio",
] as const satisfies readonly (keyof ResolvedOptions)[];

/** What a worker is configured with: a part of {@linkcode ResolvedOptions}. */
export type WorkerConfig =
  & Pick<ResolvedOptions, Exclude<typeof WORKER_OPTIONS[number], ImageOption>>
  & Partial<Pick<ResolvedOptions, ImageOption>>;

/** The workers' image options: optional in a {@linkcode WorkerConfig}, off when absent. */
type ImageOption =
  | "outputFormat"
  | "resizeMode"
  | "imageSize"
  | "encodeFormat"
  | "encodeQuality"
  | "minImageSize"
  | "maxAspectRatio";

/** Picks the workers' part of the resolved options. */
export function workerConfig(options: ResolvedOptions): WorkerConfig {
  return Object.fromEntries(WORKER_OPTIONS.map((key) => [key, options[key]])) as WorkerConfig;
}

/**
 * The version of downpour, as in deno.json.
 *
 * @example
 * ```ts
 * import { VERSION } from "./options.ts";
 * import assert from "node:assert/strict";
 *
 * assert.match(VERSION, /^\d+\.\d+\.\d+/);
 * ```
 */
export const VERSION = "0.1.0";

/**
 * The defaults of {@linkcode DownloadOptions}, except `workers`, which is the number of cores.
 *
 * @example
 * ```ts
 * import { DEFAULTS, VERSION } from "./options.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DEFAULTS.perHost, 6);
 * assert.equal(DEFAULTS.userAgent, `downpour/${VERSION}`);
 * ```
 */
export const DEFAULTS = {
  concurrency: 64,
  perHost: 6,
  retries: 3,
  maxBytes: 64 * 1024 * 1024,
  headersTimeout: 30_000,
  idleTimeout: 30_000,
  totalTimeout: 0,
  lowSpeedLimit: 1024,
  lowSpeedTime: 30_000,
  maxRedirects: 10,
  userAgent: `downpour/${VERSION}`,
} as const;

/** How a command-line flag sets an option: its name, its help and how its text is read. */
export interface FlagRule<T> {
  /** The long name, without the dashes. */
  name: string;
  /** The one-letter name, if any. */
  short?: string;
  /** What the value is called in the help (`N`, `S`, …); none for a switch. */
  arg?: string;
  /** The help text; further lines after `\n`. */
  help: string;
  /** Reads the flag's text (or `true` for a switch); throws an `Error` that says what to fix. */
  parse(text: string | true): T;
}

/** How one option is checked and defaulted, and the flag that sets it, if any. */
export interface OptionRule<T> {
  /** Checks the caller's value (`undefined` when not given) and returns it or the default. */
  resolve(value: unknown, name: string): T;
  /** The command-line flag, for the options the command offers. */
  flag?: FlagRule<T>;
}

/** One rule per option, of the option's own type. */
export type OptionRules = { [K in keyof DownloadOptions]-?: OptionRule<ResolvedOptions[K]> };

const fail = (message: string): never => {
  throw new Error(message);
};

function integer(fallback: number | (() => number), min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: unknown, name: string): number => {
    if (value === undefined) return typeof fallback === "function" ? fallback() : fallback;
    if (typeof value !== "number") {
      throw new TypeError(`Cannot start download: '${name}' must be a number, got ${typeof value}`);
    }
    if (!Number.isSafeInteger(value) || value < min) {
      const what = min === 0 ? "a non-negative integer" : "a positive integer";
      throw new RangeError(`Cannot start download: '${name}' must be ${what}, got ${value}`);
    }
    if (value > max) {
      throw new RangeError(`Cannot start download: '${name}' must be at most ${max}, got ${value}`);
    }
    return value;
  };
}

function boolean(fallback: boolean) {
  return (value: unknown, name: string): boolean => {
    if (value === undefined) return fallback;
    if (typeof value !== "boolean") {
      throw new TypeError(
        `Cannot start download: '${name}' must be a boolean, got ${typeof value}`,
      );
    }
    return value;
  };
}

/** A flag whose text is a whole number of at least `min`. */
function count(name: string, arg: string, help: string, min = 1, short?: string): FlagRule<number> {
  return {
    name,
    short,
    arg,
    help,
    parse(text) {
      const n = Number(text);
      if (
        typeof text !== "string" || !/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) ||
        n < min
      ) {
        return fail(
          `--${name} must be ${min === 0 ? "a" : "a positive"} whole number, got '${text}'`,
        );
      }
      return n;
    },
  };
}

/** A flag whose text is a positive number of seconds, kept as milliseconds. */
function seconds(name: string, help: string): FlagRule<number> {
  return {
    name,
    arg: "S",
    help,
    parse(text) {
      const n = Number(text);
      if (typeof text !== "string" || text.trim() === "" || !Number.isFinite(n) || n <= 0) {
        return fail(`--${name} must be a positive number of seconds, got '${text}'`);
      }
      return Math.round(n * 1000);
    },
  };
}

/** A switch. */
function toggle(name: string, help: string): FlagRule<boolean> {
  return { name, help, parse: () => true };
}

/** A resolver of one of `values`. */
function oneOf<T extends string>(values: readonly T[], fallback: T) {
  return (value: unknown, name: string): T => {
    if (value === undefined) return fallback;
    if (!(values as readonly unknown[]).includes(value)) {
      throw new TypeError(
        `Cannot start download: '${name}' must be ${
          values.map((v) => JSON.stringify(v)).join(", ")
        }, got ${JSON.stringify(value)}`,
      );
    }
    return value as T;
  };
}

/** A flag whose text is one of `values`. */
function choice<T extends string>(name: string, values: readonly T[], help: string): FlagRule<T> {
  return {
    name,
    arg: "X",
    help,
    parse: (text) =>
      (values as readonly unknown[]).includes(text)
        ? text as T
        : fail(`--${name} must be ${values.join(", ")}, got '${text}'`),
  };
}

/** The output formats, for {@linkcode DownloadOptions.outputFormat}. */
export const OUTPUT_FORMATS = ["files", "webdataset", "parquet"] as const;
/** The resize modes, for {@linkcode DownloadOptions.resizeMode}. */
export const RESIZE_MODES = ["no", "border", "keep-ratio", "center-crop"] as const;
/** The encode formats, for {@linkcode DownloadOptions.encodeFormat}. */
export const ENCODE_FORMATS = ["jpg", "png", "webp"] as const;

const cores = () => Math.max(1, navigator.hardwareConcurrency || 1);

/**
 * The rule of every option. Rules only check what a caller gives at the public boundary:
 * everything inside trusts the resolved options.
 */
export const OPTION_RULES: OptionRules = {
  out: {
    resolve(value) {
      if (typeof value !== "string" || value === "") {
        throw new TypeError("Cannot start download: 'out' must be the path of a directory");
      }
      return value;
    },
    flag: {
      name: "out",
      short: "o",
      arg: "DIR",
      help: "where files go (default ./downloads); created if missing",
      parse: (text) => String(text),
    },
  },
  workers: {
    resolve: integer(cores, 1, 256),
    flag: count("workers", "N", "Web Workers (default: the number of cores)", 1, "w"),
  },
  concurrency: {
    resolve: integer(DEFAULTS.concurrency, 1),
    flag: count(
      "concurrency",
      "N",
      `most downloads in flight per worker; adaptive from 16 (default ${DEFAULTS.concurrency})`,
      1,
      "c",
    ),
  },
  perHost: {
    resolve: integer(DEFAULTS.perHost, 1),
    flag: count(
      "per-host",
      "N",
      `downloads in flight per host (default ${DEFAULTS.perHost}, to ${
        2 * DEFAULTS.perHost
      } for far hosts; given, fixed)`,
    ),
  },
  retries: {
    resolve: integer(DEFAULTS.retries, 0),
    flag: count(
      "retries",
      "N",
      `retries after network errors, timeouts, 408/429/5xx (default ${DEFAULTS.retries})`,
      0,
    ),
  },
  maxBytes: {
    resolve: integer(DEFAULTS.maxBytes, 1),
    flag: count("max-bytes", "N", `largest file kept, in bytes (default ${DEFAULTS.maxBytes})`),
  },
  anyType: {
    resolve: boolean(false),
    flag: toggle("any-type", "keep any file, not only images (checked by their first bytes)"),
  },
  digest: {
    resolve: boolean(false),
    flag: toggle(
      "digest",
      "compute each file's SHA-256, for --json and the journal (costs CPU;\n" +
        "files with a sha256 column are always checked)",
    ),
  },
  headersTimeout: {
    resolve: integer(DEFAULTS.headersTimeout, 1),
    flag: seconds(
      "headers-timeout",
      `seconds to wait for a response (default ${DEFAULTS.headersTimeout / 1000})`,
    ),
  },
  idleTimeout: {
    resolve: integer(DEFAULTS.idleTimeout, 1),
    flag: seconds(
      "idle-timeout",
      `seconds without data (a body to 128 KiB: in all) before giving up (default ${
        DEFAULTS.idleTimeout / 1000
      })`,
    ),
  },
  totalTimeout: {
    resolve: integer(DEFAULTS.totalTimeout, 0),
    flag: seconds("total-timeout", "seconds one attempt may take in all (default: no limit)"),
  },
  lowSpeedLimit: {
    resolve: integer(DEFAULTS.lowSpeedLimit, 0),
    flag: count(
      "low-speed-limit",
      "N",
      `give up on a body slower than N bytes/s over --low-speed-time\n` +
        `(default ${DEFAULTS.lowSpeedLimit}; 0 = off)`,
      0,
    ),
  },
  lowSpeedTime: {
    resolve: integer(DEFAULTS.lowSpeedTime, 1),
    flag: seconds(
      "low-speed-time",
      `seconds the speed is averaged over (default ${DEFAULTS.lowSpeedTime / 1000})`,
    ),
  },
  maxRedirects: {
    resolve: integer(DEFAULTS.maxRedirects, 0),
    flag: count(
      "max-redirects",
      "N",
      `redirects followed per URL, http(s) only (default ${DEFAULTS.maxRedirects})`,
      0,
    ),
  },
  userAgent: {
    resolve(value) {
      if (value === undefined) return DEFAULTS.userAgent;
      if (typeof value !== "string") {
        throw new TypeError("Cannot start download: 'userAgent' must be a string");
      }
      return value;
    },
    flag: {
      name: "user-agent",
      arg: "UA",
      help: `the User-Agent header (default ${DEFAULTS.userAgent})`,
      parse: (text) => String(text),
    },
  },
  journal: {
    resolve: boolean(true),
    flag: {
      name: "no-journal",
      help: "neither read nor write the journal: fetch everything again",
      parse: () => false,
    },
  },
  layout: {
    resolve(value) {
      if (value === undefined) return "flat";
      if (value !== "flat" && value !== "shard") {
        throw new TypeError(
          `Cannot start download: 'layout' must be "flat" or "shard", got ${JSON.stringify(value)}`,
        );
      }
      return value;
    },
    flag: {
      name: "layout",
      arg: "L",
      help: "flat (default), or shard: 1,000 files a subdirectory, for huge runs",
      parse: (text) =>
        text === "flat" || text === "shard"
          ? text
          : fail(`--layout must be flat or shard, got '${text}'`),
    },
  },
  rate: {
    resolve(value) {
      if (value === undefined) return 0;
      if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
        throw new RangeError(
          `Cannot start download: 'rate' must be a number of requests per second >= 0, got ${value}`,
        );
      }
      return value;
    },
    flag: {
      name: "rate",
      arg: "N",
      help: "requests per second per host (default: no limit)",
      parse(text) {
        const n = Number(text);
        if (typeof text !== "string" || text.trim() === "" || !Number.isFinite(n) || n <= 0) {
          return fail(`--rate must be a positive number of requests per second, got '${text}'`);
        }
        return n;
      },
    },
  },
  robots: {
    resolve: boolean(false),
    flag: toggle(
      "robots",
      "honour each host's robots.txt (fetched once per host): skip what it\n" +
        "disallows and wait its Crawl-delay between requests",
    ),
  },
  denyPrivate: {
    resolve: boolean(false),
    flag: toggle(
      "deny-private",
      "refuse URLs, redirects and robots.txt on loopback/private/link-local\n" +
        "addresses, checked where the connection is made (DNS rebinding included)",
    ),
  },
  honorNoAi: {
    resolve: boolean(false),
    flag: toggle("honor-noai", "skip images whose X-Robots-Tag says noai or noimageai"),
  },
  shard: {
    resolve(value) {
      if (value === undefined) return undefined;
      const { index, count } = (value ?? {}) as { index?: unknown; count?: unknown };
      if (
        !Number.isSafeInteger(count) || !Number.isSafeInteger(index) || (count as number) < 1 ||
        (index as number) < 0 || (index as number) >= (count as number)
      ) {
        throw new RangeError(
          `Cannot start download: 'shard' must be { index, count } with 0 <= index < count, got ${
            JSON.stringify(value)
          }`,
        );
      }
      return { index: index as number, count: count as number };
    },
    // The flag is the command's own: it reads JOB_COMPLETION_INDEX (cli/flags.ts).
  },
  outputFormat: {
    resolve: oneOf(OUTPUT_FORMATS, "files"),
    flag: choice(
      "output-format",
      OUTPUT_FORMATS,
      "files (default), webdataset (OUT/00000.tar … of --shard-size rows)\n" +
        "or parquet (OUT/00000.parquet … with the images); both with a\n" +
        "metadata table 00000.parquet and 00000_stats.json a shard",
    ),
  },
  shardSize: {
    resolve: integer(10_000, 1, 10_000),
    flag: count("shard-size", "N", "input rows a webdataset/parquet shard holds (default 10000)"),
  },
  resizeMode: {
    resolve: oneOf(RESIZE_MODES, "no"),
    flag: choice(
      "resize-mode",
      RESIZE_MODES,
      "no (default), border, keep-ratio or center-crop to --image-size;\n" +
        "decodes every image (needs --allow-ffi --allow-env: sharp)",
    ),
  },
  imageSize: {
    resolve: integer(256, 1, 16384),
    flag: count("image-size", "N", "the side images are resized to (default 256)"),
  },
  encodeFormat: {
    resolve: oneOf(ENCODE_FORMATS, "jpg"),
    flag: choice("encode-format", ENCODE_FORMATS, "jpg (default), png or webp, for resized images"),
  },
  encodeQuality: {
    resolve: integer(95, 1, 100),
    flag: count("encode-quality", "Q", "jpg/webp quality of resized images, 1-100 (default 95)"),
  },
  minImageSize: {
    resolve: integer(0, 0),
    flag: count("min-image-size", "N", "fail images narrower or lower than N pixels", 0),
  },
  maxAspectRatio: {
    resolve(value) {
      if (value === undefined) return 0;
      if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
        throw new RangeError(
          `Cannot start download: 'maxAspectRatio' must be a number >= 0, got ${value}`,
        );
      }
      return value;
    },
    flag: {
      name: "max-aspect-ratio",
      arg: "R",
      help: "fail images whose long side is over R times the short one",
      parse(text) {
        const n = Number(text);
        if (typeof text !== "string" || text.trim() === "" || !Number.isFinite(n) || n < 1) {
          return fail(`--max-aspect-ratio must be a number of at least 1, got '${text}'`);
        }
        return n;
      },
    },
  },
  retryFailed: {
    resolve: boolean(false),
    // The command's --retry-failed sets it for a dataset output (cli.ts).
  },
  signal: {
    resolve(value) {
      if (value !== undefined && !(value instanceof AbortSignal)) {
        throw new TypeError("Cannot start download: 'signal' must be an AbortSignal");
      }
      return value;
    },
  },
};

/**
 * Checks the options and fills in the defaults, by {@linkcode OPTION_RULES}.
 *
 * @param options The caller's options.
 * @returns The options with every default filled in.
 * @throws {TypeError} When an option has the wrong type or `out` is missing.
 * @throws {RangeError} When a number is out of range.
 */
export function resolveOptions(options: DownloadOptions): ResolvedOptions {
  if (options === null || typeof options !== "object") {
    throw new TypeError("Cannot start download: options must be an object with at least 'out'");
  }
  const resolved: Record<string, unknown> = {};
  for (const [key, rule] of Object.entries(OPTION_RULES)) {
    const value = (rule as OptionRule<unknown>).resolve(
      (options as unknown as Record<string, unknown>)[key],
      key,
    );
    if (value !== undefined) resolved[key] = value;
  }
  return resolved as ResolvedOptions;
}
