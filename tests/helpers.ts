/** Small helpers shared by the test files. */

import type { DownloadResult } from "../mod.ts";

/** Every result of a run, in the order they came. */
export async function collect(
  results: AsyncIterable<DownloadResult>,
): Promise<DownloadResult[]> {
  const all: DownloadResult[] = [];
  for await (const result of results) all.push(result);
  return all;
}

/** Every file below `dir`, as sorted relative paths, except those named in `skip`. */
export async function listFiles(dir: string, skip: string[] = [], prefix = ""): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isDirectory) {
      names.push(...await listFiles(`${dir}/${entry.name}`, skip, `${prefix}${entry.name}/`));
    } else if (!skip.includes(entry.name)) names.push(prefix + entry.name);
  }
  return names.sort();
}
