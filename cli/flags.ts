/**
 * The command's flags: one declaration each, in the order of the help. A flag that sets a
 * library option takes its name, help and parser from that option's rule in
 * `src/options.ts`; the others are the command's own. Both the `node:util` parser's table and
 * the help text are derived from {@linkcode FLAGS}.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type DownloadOptions, type FlagRule, OPTION_RULES, VERSION } from "../src/options.ts";
import { INPUT_FORMATS, type InputFormat } from "../src/input/formats.ts";
import { parseShard } from "../src/shard.ts";
import type { ColumnChoice } from "../src/input/columns.ts";

/** How a usage problem is reported: one line on stderr and exit status 2. */
export class UsageError extends Error {
  /** @param message What to fix. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** What the command itself does, beside the library's options. */
export interface CommandFlags {
  input: string[];
  format?: InputFormat;
  shard?: { index: number; count: number };
  /** The columns of a table-like list: `--url-col`, `--caption-col`, `--save-columns`. */
  columns: ColumnChoice;
  report?: string;
  retryFailed: boolean;
  json: boolean;
  quiet: boolean;
  help: boolean;
  version: boolean;
}

type Setter = (into: Parsed, value: string | true) => void;

interface Flag extends Omit<FlagRule<unknown>, "parse"> {
  /** May be given more than once. */
  multiple?: boolean;
  set: Setter;
}

/** The result of parsing: the library's options, the command's own flags, and the URLs. */
export interface Parsed {
  options: Partial<DownloadOptions> & { out: string };
  command: CommandFlags;
  positionals: string[];
}

/** A flag that sets the library option `key`, as its rule declares. */
function option<K extends keyof DownloadOptions>(key: K): Flag {
  const rule = OPTION_RULES[key].flag! as FlagRule<DownloadOptions[K]>;
  return {
    ...rule,
    set(into, text) {
      into.options[key] = rule.parse(text) as Parsed["options"][K];
    },
  };
}

/** A flag of the command's own. */
function own(flag: Omit<Flag, "set">, set: Setter): Flag {
  return { ...flag, set };
}

/** Reads a flag's text, turning a parser's complaint into a usage error. */
function usage<T>(flag: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw new UsageError(`${flag}: ${(error as Error).message}`);
  }
}

/** A column's name from a flag: not empty. */
function columnName(flag: string, text: string): string {
  if (text.trim() === "") throw new UsageError(`${flag} must name a column`);
  return text.trim();
}

/** Every flag, in the order of the help. */
export const FLAGS: readonly Flag[] = [
  own({
    name: "input",
    short: "i",
    arg: "FILE",
    multiple: true,
    help: 'URLs, one per line ("-" = stdin); blank lines and lines starting\n' +
      "with # are skipped. .csv/.tsv (with a url column) and .jsonl are\n" +
      "read as such; .gz files are decompressed as they stream",
  }, (into, text) => into.command.input.push(String(text))),
  own({
    name: "format",
    arg: "F",
    help: `${INPUT_FORMATS.slice(0, -1).join(", ")} or ${
      INPUT_FORMATS.at(-1)
    }, instead of guessing from the file name`,
  }, (into, text) => {
    if (!(INPUT_FORMATS as readonly string[]).includes(String(text))) {
      throw new UsageError(
        `--format must be ${INPUT_FORMATS.slice(0, -1).join(", ")} or ${
          INPUT_FORMATS.at(-1)
        }, got '${text}'`,
      );
    }
    into.command.format = text as InputFormat;
  }),
  option("out"),
  option("workers"),
  option("concurrency"),
  option("perHost"),
  option("retries"),
  option("maxBytes"),
  option("anyType"),
  option("digest"),
  option("headersTimeout"),
  option("idleTimeout"),
  option("totalTimeout"),
  option("lowSpeedLimit"),
  option("lowSpeedTime"),
  option("maxRedirects"),
  option("userAgent"),
  option("layout"),
  option("rate"),
  option("robots"),
  option("denyPrivate"),
  option("honorNoAi"),
  own({
    name: "url-col",
    arg: "NAME",
    help: "the column of the URLs in a CSV/TSV/JSON Lines/Parquet list (default url)",
  }, (into, text) => into.command.columns.url = columnName("--url-col", String(text))),
  own({
    name: "caption-col",
    arg: "NAME",
    help: "the column of the captions: saved as NAME.txt / KEY.txt and in the metadata",
  }, (into, text) => into.command.columns.caption = columnName("--caption-col", String(text))),
  own({
    name: "save-columns",
    arg: "A,B",
    help: "columns kept with each image (NAME.json, KEY.json, the metadata table)",
  }, (into, text) => {
    const names = String(text).split(",").map((name) => name.trim()).filter((name) => name);
    if (names.length === 0) throw new UsageError(`--save-columns must name columns, got '${text}'`);
    into.command.columns.save = [...(into.command.columns.save ?? []), ...names];
  }),
  option("outputFormat"),
  option("shardSize"),
  option("resizeMode"),
  option("imageSize"),
  option("encodeFormat"),
  option("encodeQuality"),
  option("minImageSize"),
  option("maxAspectRatio"),
  own({
    name: "shard",
    arg: "K/N",
    help: "keep only shard K of N of the input (by a stable hash of the URL);\n" +
      "K counts from 0, so 0/4 … 3/4 cover a list; auto/N takes K from\n" +
      "JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs)",
  }, (into, text) => {
    into.command.shard = usage("--shard", () => parseShard(String(text), (n) => Deno.env.get(n)));
  }),
  own({
    name: "report",
    arg: "FILE",
    help: "write a JSON summary: counts by outcome and reason, bytes, time",
  }, (into, text) => into.command.report = String(text)),
  own({
    name: "retry-failed",
    help: "fetch again only the URLs that failed in earlier runs into DIR\n" +
      "(as recorded in DIR/.downpour-journal.jsonl)",
  }, (into) => into.command.retryFailed = true),
  option("journal"),
  own({ name: "json", help: "one JSON object per URL on stdout: the library's result" }, (into) => {
    into.command.json = true;
  }),
  own({ name: "quiet", short: "q", help: "no progress, only errors and the summary" }, (into) => {
    into.command.quiet = true;
  }),
  own({ name: "help", short: "h", help: "this text" }, (into) => into.command.help = true),
  own({ name: "version", short: "V", help: "the version" }, (into) => into.command.version = true),
];

/** Where the help's second column starts. */
const HELP_COLUMN = 26;

function helpLine(flag: Flag): string {
  const names = `${flag.short ? `-${flag.short}, ` : "    "}--${flag.name}`;
  const left = `  ${names}${flag.arg ? ` ${flag.arg}` : ""}`;
  const [first, ...rest] = flag.help.split("\n");
  const pad = " ".repeat(Math.max(1, HELP_COLUMN - left.length));
  return [left + pad + first, ...rest.map((line) => " ".repeat(HELP_COLUMN) + line)].join("\n");
}

/** The `--help` text. */
export function helpText(): string {
  return `downpour ${VERSION}: download lists of image URLs in parallel, safely.

Usage: downpour [options] [URL ...]

${FLAGS.map(helpLine).join("\n")}

Exit status: 0 every URL saved, 1 any URL failed, 2 usage error, 130 interrupted.

Install:  deno install -g -n downpour --allow-net --allow-read --allow-write \\
            --v8-flags=--max-semi-space-size=1,--heap-growing-percent=100 <url or path>/cli.ts
Example:  downpour -i urls.txt -o images
`;
}

/**
 * Parses the command line by {@linkcode FLAGS}.
 *
 * @throws {UsageError} For an unknown flag, a missing value or a value that does not read.
 */
export function parseFlags(args: string[]): Parsed {
  const table: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> =
    {};
  for (const flag of FLAGS) {
    table[flag.name] = {
      type: flag.arg ? "string" : "boolean",
      ...(flag.short ? { short: flag.short } : {}),
      ...(flag.multiple ? { multiple: true } : {}),
    };
  }
  let parsed;
  try {
    parsed = parseArgs({ args, allowPositionals: true, strict: true, options: table });
  } catch (error) {
    // node:util's messages name the flag; make them ours.
    const message = (error as Error).message.replace(/\. To specify a positional.*$/s, "");
    throw new UsageError(message);
  }
  const into: Parsed = {
    options: { out: "downloads" },
    command: {
      input: [],
      columns: {},
      retryFailed: false,
      json: false,
      quiet: false,
      help: false,
      version: false,
    },
    positionals: parsed.positionals,
  };
  for (const flag of FLAGS) {
    const value = (parsed.values as Record<string, string | boolean | string[] | undefined>)[
      flag.name
    ];
    if (value === undefined || value === false) continue;
    for (const one of Array.isArray(value) ? value : [value]) {
      try {
        flag.set(into, one);
      } catch (error) {
        if (error instanceof UsageError) throw error;
        throw new UsageError((error as Error).message);
      }
    }
  }
  return into;
}
