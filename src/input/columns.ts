/**
 * Which columns of a table-like list (CSV, TSV, JSON Lines, Parquet) hold the URL, the caption
 * and the values to keep with each row, and finding them among the columns a list has.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { clip } from "./url.ts";

/** The columns asked for; names are matched case-insensitively, after trimming. */
export interface ColumnChoice {
  /** The column of the URL. Default: `url`. */
  url?: string;
  /** The column of the caption, if any. */
  caption?: string;
  /** Columns whose values are kept with each row (in the metadata), if any. */
  save?: string[];
}

/** Where the chosen columns are: indexes into a row's fields; -1 for an absent optional one. */
export interface ColumnPlaces {
  url: number;
  name: number;
  sha256: number;
  caption: number;
  /** The saved columns, as `[name as asked, index]`. */
  save: [string, number][];
}

/** Whether any column beyond the URL's is asked for. */
export function wantsExtras(choice: ColumnChoice | undefined): boolean {
  return choice?.caption !== undefined || (choice?.save?.length ?? 0) > 0;
}

/**
 * Finds the chosen columns among a list's column names, or throws an {@linkcode InputError}
 * that names the columns the list has.
 *
 * @param names The list's column names, in order.
 * @param choice The columns asked for.
 * @param where How to name the place of the names in a message, e.g. "the CSV header on line 1".
 * @param hint Added to the message when the URL column is missing under its default name.
 */
export function placeColumns(
  names: string[],
  choice: ColumnChoice | undefined,
  where: string,
  hint = "",
): ColumnPlaces {
  const folded = names.map((name) => name.trim().toLowerCase());
  const find = (name: string) => folded.indexOf(name.trim().toLowerCase());
  const missing = (name: string, what: string, extra = ""): never => {
    const found = names.map((field) => JSON.stringify(clip(field))).join(", ");
    throw new InputError(
      `${where} has no '${name}' column${what} (its columns are ${found || "none"})${extra}`,
      { columns: names },
    );
  };
  const urlName = choice?.url ?? "url";
  const url = find(urlName);
  if (url === -1) {
    missing(urlName, choice?.url === undefined ? "" : " (--url-col)", choice?.url ? "" : hint);
  }
  let caption = -1;
  if (choice?.caption !== undefined) {
    caption = find(choice.caption);
    if (caption === -1) missing(choice.caption, " (--caption-col)");
  }
  const save: [string, number][] = [];
  for (const name of choice?.save ?? []) {
    const index = find(name);
    if (index === -1) missing(name, " (--save-columns)");
    save.push([name, index]);
  }
  return { url, name: find("name"), sha256: find("sha256"), caption, save };
}

/** The caption and saved values of one row, by the places found. */
export function rowExtras(
  places: ColumnPlaces,
  field: (index: number) => unknown,
): { caption?: unknown; columns?: Record<string, unknown> } {
  const extras: { caption?: unknown; columns?: Record<string, unknown> } = {};
  if (places.caption !== -1) extras.caption = field(places.caption);
  if (places.save.length > 0) {
    const columns: Record<string, unknown> = {};
    for (const [name, index] of places.save) columns[name] = field(index) ?? null;
    extras.columns = columns;
  }
  return extras;
}
