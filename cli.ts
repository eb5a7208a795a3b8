#!/usr/bin/env -S deno run --allow-net --allow-read --allow-write --v8-flags=--max-semi-space-size=1,--heap-growing-percent=100
/**
 * The `downpour` command: downloads the URLs given as arguments or listed in a file into a
 * directory. Run `deno run -A cli.ts --help` for the options.
 *
 * @module
 */

import { download, type DownloadResult, InputError, OutDirError, VERSION } from "./mod.ts";
import { helpText, parseFlags, UsageError } from "./cli/flags.ts";
import { Progress } from "./cli/progress.ts";
import {
  closeSources,
  countEntries,
  failedBefore,
  openSources,
  type Source,
  urlsOf,
} from "./cli/sources.ts";
import { inShard } from "./src/shard.ts";
import { Tally } from "./src/summary.ts";

const encoder = new TextEncoder();
function write(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  let at = 0;
  while (at < bytes.length) at += stream.writeSync(bytes.subarray(at));
}

/**
 * Runs the command.
 *
 * @param args The command-line arguments, without the program's name.
 * @returns The exit status: 0 all saved, 1 some failed, 2 usage error, 130 interrupted.
 *
 * @example
 * ```ts
 * import { main } from "./cli.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(await main(["--definitely-not-an-option"]), 2);
 * ```
 */
export async function main(args: string[]): Promise<number> {
  let sources: Source[] = [];
  const stop = new AbortController();
  let interrupted = 0;
  const onSignal = () => {
    interrupted++;
    if (interrupted > 1) Deno.exit(130);
    write(Deno.stderr, "\ndownpour: stopping; press Ctrl-C again to quit at once\n");
    stop.abort(new DOMException("Interrupted", "AbortError"));
  };
  try {
    const { options, command, positionals } = parseFlags(args);
    if (command.help) {
      write(Deno.stdout, helpText());
      return 0;
    }
    if (command.version) {
      write(Deno.stdout, `downpour ${VERSION}\n`);
      return 0;
    }
    const { input: inputs, json, quiet, report: reportPath, retryFailed, shard } = command;
    if (retryFailed && options.journal === false) {
      throw new UsageError("--retry-failed reads the journal, so it cannot go with --no-journal");
    }
    const dataset = (options.outputFormat ?? "files") !== "files";
    if ((options.resizeMode ?? "no") !== "no") {
      // sharp (libvips) is a native library: it needs these two, and only when resizing.
      const ffi = await Deno.permissions.query({ name: "ffi" });
      const env = await Deno.permissions.query({ name: "env" });
      if (ffi.state !== "granted" || env.state !== "granted") {
        throw new UsageError(
          "--resize-mode needs --allow-ffi --allow-env (images are decoded with sharp, a native library)",
        );
      }
    }
    const retry = retryFailed && !dataset ? await failedBefore(options.out) : undefined;
    if (retryFailed && dataset) {
      // A dataset's rows are keyed by their place in the list: the list is read again, and the
      // failed rows of its finished shards fetched again.
      if (inputs.length === 0) {
        throw new UsageError(
          "--retry-failed with a webdataset or parquet output needs the same list again (-i FILE)",
        );
      }
      options.retryFailed = true;
    } else if (retryFailed) {
      // The failures are read from the journal as the run goes.
    } else if (inputs.length === 0 && positionals.length === 0) {
      throw new UsageError("give URLs as arguments, or a list with -i FILE (- for stdin)");
    }
    sources = await openSources(inputs, command.format);

    const tally = new Tally();
    const progress = !quiet && Deno.stderr.isTerminal()
      ? new Progress(tally, (text) => write(Deno.stderr, text))
      : undefined;
    const report = (line: string) => {
      progress?.clear();
      write(Deno.stderr, line + "\n");
    };

    const skip = (result: DownloadResult) => {
      tally.add(result);
      if (json) write(Deno.stdout, JSON.stringify(result) + "\n");
      else report(`downpour: ${result.error}`);
    };
    const items = urlsOf(positionals, sources, skip, retry, command.columns);
    const shardSize = options.shardSize ?? 10_000;
    /** Whether the row at `position` with `url` is this process's, by --shard. */
    const keep = !shard
      ? undefined
      : dataset
      ? (_url: string, position: number) =>
        Math.floor(position / shardSize) % shard.count === shard.index
      : (url: string) => inShard(url, shard);

    Deno.addSignalListener("SIGINT", onSignal);
    Deno.addSignalListener("SIGTERM", onSignal);
    if (progress) {
      // The total, for done/total and the ETA: the arguments, and the lists read once more by
      // the same reader (unless one is stdin).
      const given = positionals.filter((url, i) => !keep || keep(url, i)).length;
      progress.total = inputs.length === 0 && !retry ? given : undefined;
      const offset = positionals.length;
      const inList = keep && ((url: string, position: number) => keep(url, position + offset));
      countEntries(inputs, command.format, inList, command.columns).then((n) => {
        if (n !== undefined) progress.total = given + n;
      });
    }
    progress?.start();
    const startedAt = new Date();
    let code: number;
    let problem: unknown;
    try {
      for await (const result of download(items, { ...options, shard, signal: stop.signal })) {
        tally.add(result);
        if (json) write(Deno.stdout, JSON.stringify(result) + "\n");
        else if (!result.ok) report(`downpour: ✗ ${result.url}: ${result.error}`);
      }
      code = tally.summary().failed > 0 ? 1 : 0;
    } catch (error) {
      // Usage errors: the output directory, or a list that is not what its columns say.
      if (error instanceof OutDirError || error instanceof InputError) throw error;
      if (!stop.signal.aborted) problem = error;
      code = stop.signal.aborted ? 130 : 1;
    } finally {
      progress?.stop();
    }
    const summary = tally.summary(code === 130);
    if (problem !== undefined) {
      write(Deno.stderr, `downpour: ${(problem as Error)?.message ?? problem}\n`);
    }
    const prefix = code === 130 ? "interrupted. " : "";
    write(Deno.stderr, `downpour: ${prefix}${Progress.line(summary)}\n`);
    if (reportPath !== undefined) {
      const body = {
        tool: `downpour ${VERSION}`,
        out: options.out,
        startedAt,
        exitCode: code,
        ...summary,
      };
      try {
        await Deno.writeTextFile(reportPath, JSON.stringify(body, null, 2) + "\n");
      } catch (error) {
        write(
          Deno.stderr,
          `downpour: cannot write the report '${reportPath}': ${(error as Error).message}\n`,
        );
        if (code === 0) code = 1;
      }
    }
    if (code === 0 && summary.total === 0) {
      write(Deno.stderr, "downpour: the input had no URLs; nothing to do\n");
    }
    return code;
  } catch (error) {
    if (
      error instanceof UsageError || error instanceof OutDirError || error instanceof InputError
    ) {
      write(Deno.stderr, `downpour: ${error.message}\nTry 'downpour --help'.\n`);
      return 2;
    }
    write(Deno.stderr, `downpour: ${(error as Error)?.message ?? error}\n`);
    return 1;
  } finally {
    await closeSources(sources);
    try {
      Deno.removeSignalListener("SIGINT", onSignal);
      Deno.removeSignalListener("SIGTERM", onSignal);
    } catch {
      // Never added.
    }
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
