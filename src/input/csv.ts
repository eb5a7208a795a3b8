/**
 * CSV and TSV lists: RFC 4180 records, leniently parsed, whose header names the columns.
 *
 * @module
 */

import { type ColumnChoice, type ColumnPlaces, placeColumns, rowExtras } from "./columns.ts";
import { type InputEntry, type InputProblem, toEntry } from "./entry.ts";
import { MAX_LINE_LENGTH } from "./lines.ts";
import { clip } from "./url.ts";

/**
 * The entries and problems of a CSV or TSV list, whose first record is a header naming a `url`
 * column and maybe `name` and `sha256` ones.
 */
export async function* tableEntries(
  chunks: AsyncIterable<string>,
  format: "csv" | "tsv",
  choice?: ColumnChoice,
): AsyncGenerator<InputEntry | InputProblem> {
  const delimiter = format === "csv" ? "," : "\t";
  let columns: ColumnPlaces | undefined;
  for await (const record of records(chunks, delimiter)) {
    if (columns === undefined) {
      if (record.problem !== undefined) {
        throw new TypeError(
          `Cannot read the input: the ${format.toUpperCase()} header on line ${record.line} is unreadable: ${record.problem}`,
        );
      }
      columns = placeColumns(
        record.fields,
        choice,
        `the ${format.toUpperCase()} header on line ${record.line}`,
        `; the first row must name the columns, like "url${delimiter}name"`,
      );
      continue;
    }
    const text = record.fields[columns.url] ?? record.fields.join(delimiter);
    if (record.problem !== undefined) {
      yield { line: record.line, text: clip(text), error: record.problem };
      continue;
    }
    yield toEntry(
      record.line,
      record.fields[columns.url] ?? "",
      record.fields[columns.name],
      record.fields[columns.sha256],
      text,
      rowExtras(columns, (index) => record.fields[index] ?? null),
    );
  }
}

/** One CSV or TSV record: its fields, or what is wrong with it. */
interface TableRecord {
  line: number;
  fields: string[];
  problem?: string;
}

// States of the record parser.
const FIELD_START = 0;
const UNQUOTED = 1;
const QUOTED = 2;
const QUOTE_IN_QUOTED = 3;

/**
 * Parses RFC 4180 records from text chunks, keeping at most {@linkcode MAX_LINE_LENGTH}
 * characters of a record. Lenient where the RFC is strict: a quote inside an unquoted field is
 * kept, text right after a closing quote is appended, and a lone `\r` is data. Records whose
 * fields are all empty are skipped.
 */
async function* records(
  chunks: AsyncIterable<string>,
  delimiter: string,
): AsyncGenerator<TableRecord> {
  const DELIMITER = delimiter.charCodeAt(0);
  let fields: string[] = [];
  let field = "";
  let size = 0;
  let long = false;
  let state = FIELD_START;
  let line = 1;
  let start = 1;
  let started = false;
  let cr = false;

  for await (const chunk of chunks) {
    let from = 0;
    for (let i = 0; i < chunk.length; i++) {
      const code = chunk.charCodeAt(i);
      if (!started) {
        started = true;
        start = line;
      }
      if (cr) {
        // The \r before this character was unquoted: a line end before \n, else data.
        cr = false;
        if (code !== 0x0a && !long) field += "\r";
      }
      if (state === QUOTED) {
        if (code === 0x22) {
          if (!long) field += chunk.slice(from, i);
          state = QUOTE_IN_QUOTED;
        } else if (code === 0x0a) {
          line++;
        }
        continue;
      }
      if (state === UNQUOTED && code !== DELIMITER && code !== 0x0a && code !== 0x0d) continue;
      // Here the state is FIELD_START, QUOTE_IN_QUOTED, or UNQUOTED at a special character.
      if (state === UNQUOTED && !long) field += chunk.slice(from, i);
      if (code === DELIMITER || code === 0x0a) {
        if (!long) {
          size += field.length + 1;
          if (size > MAX_LINE_LENGTH) {
            long = true;
            fields = [];
          } else {
            fields.push(field);
          }
        }
        field = "";
        state = FIELD_START;
        if (code === 0x0a) {
          line++;
          if (long) {
            yield { line: start, fields, problem: recordTooLong };
          } else if (!fields.every((value) => value.trim() === "")) {
            yield { line: start, fields };
          }
          fields = [];
          size = 0;
          long = false;
          started = false;
        }
      } else if (code === 0x0d) {
        cr = true;
        state = UNQUOTED;
        from = i + 1;
      } else if (code === 0x22 && state === FIELD_START) {
        state = QUOTED;
        from = i + 1;
      } else if (state === QUOTE_IN_QUOTED && code === 0x22) {
        // An escaped quote: keep one, and the field is quoted still.
        if (!long) field += '"';
        state = QUOTED;
        from = i + 1;
      } else {
        state = UNQUOTED;
        from = i;
      }
    }
    if ((state === UNQUOTED || state === QUOTED) && !long) {
      field += chunk.slice(from);
      if (size + field.length > MAX_LINE_LENGTH) {
        long = true;
        fields = [];
        field = "";
      }
    }
  }
  if (!started) return;
  if (state === QUOTED) {
    yield {
      line: start,
      fields: long ? [] : [...fields, field],
      problem: `a quote opened in the record on line ${start} is never closed`,
    };
    return;
  }
  if (long) {
    yield { line: start, fields: [], problem: recordTooLong };
    return;
  }
  fields.push(field);
  if (!fields.every((value) => value.trim() === "")) yield { line: start, fields };
}

const recordTooLong = `the record is longer than ${MAX_LINE_LENGTH} characters; skipped`;
