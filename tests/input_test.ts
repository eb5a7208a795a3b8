import assert from "node:assert/strict";
import type { InputEntry, InputProblem } from "../src/input/entry.ts";
import { formatFromPath } from "../src/input/formats.ts";
import { MAX_LINE_LENGTH, readLines } from "../src/input/lines.ts";
import { readEntries } from "../src/input/read.ts";
import { checkUrl } from "../src/input/url.ts";
import { tempDir } from "./helpers.ts";

const encoder = new TextEncoder();

/** A byte stream of `text`, in chunks of `size` bytes (all at once by default). */
function streamOf(text: string | Uint8Array, size = Infinity): ReadableStream<Uint8Array> {
  const data = typeof text === "string" ? encoder.encode(text) : text;
  const chunks: Uint8Array[] = [];
  const step = Math.min(size, Math.max(data.length, 1));
  for (let i = 0; i < data.length; i += step) chunks.push(data.slice(i, i + step));
  return ReadableStream.from(chunks);
}

/** An endless stream of `line` that records whether it was cancelled. */
function endless(line: string): { stream: ReadableStream<Uint8Array>; cancelled: () => boolean } {
  let cancelled = false;
  const chunk = encoder.encode(line.repeat(100));
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(chunk);
    },
    cancel() {
      cancelled = true;
    },
  }, { highWaterMark: 0 });
  return { stream, cancelled: () => cancelled };
}

async function gzip(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function entries(
  text: string | Uint8Array,
  format: "lines" | "csv" | "tsv" | "jsonl",
  size = Infinity,
): Promise<(InputEntry | InputProblem)[]> {
  return await Array.fromAsync(readEntries(streamOf(text, size), format));
}

function problem(item: InputEntry | InputProblem | undefined): InputProblem {
  assert.ok(item !== undefined && "error" in item, `not a problem: ${JSON.stringify(item)}`);
  return item;
}

Deno.test("readLines() splits on LF and CRLF, drops a BOM, keeps a last line without newline", async () => {
  const text = "\ufeffone\r\ntwo\n\nthree\r\n  four  \nlast";
  const expected = [
    { line: 1, text: "one" },
    { line: 2, text: "two" },
    { line: 3, text: "" },
    { line: 4, text: "three" },
    { line: 5, text: "  four  " },
    { line: 6, text: "last" },
  ];
  assert.deepEqual(await Array.fromAsync(readLines(streamOf(text))), expected);
  // Byte by byte: BOM, CRLF and multi-byte characters split across chunks.
  assert.deepEqual(await Array.fromAsync(readLines(streamOf(text, 1))), expected);
  const utf8 = "日本\r\n😀é\n";
  assert.deepEqual(await Array.fromAsync(readLines(streamOf(utf8, 1))), [
    { line: 1, text: "日本" },
    { line: 2, text: "😀é" },
  ]);
  assert.deepEqual(await Array.fromAsync(readLines(streamOf("a\n"))), [{ line: 1, text: "a" }]);
  assert.deepEqual(await Array.fromAsync(readLines(streamOf(""))), []);
});

Deno.test("readLines() replaces malformed UTF-8", async () => {
  const bytes = new Uint8Array([0x61, 0xff, 0x62, 0x0a]);
  assert.deepEqual(await Array.fromAsync(readLines(streamOf(bytes))), [
    { line: 1, text: "a\ufffdb" },
  ]);
});

Deno.test("readLines() cuts lines longer than MAX_LINE_LENGTH", async () => {
  const long = "x".repeat(MAX_LINE_LENGTH + 10);
  const exact = "y".repeat(MAX_LINE_LENGTH);
  const text = `${long}\n${exact}\r\nshort\n${long}`;
  for (const size of [Infinity, 1000]) {
    const lines = await Array.fromAsync(readLines(streamOf(text, size)));
    assert.equal(lines.length, 4);
    assert.deepEqual(lines[0], { line: 1, text: "x".repeat(MAX_LINE_LENGTH), truncated: true });
    assert.deepEqual(lines[1], { line: 2, text: exact });
    assert.deepEqual(lines[2], { line: 3, text: "short" });
    assert.deepEqual(lines[3], { line: 4, text: "x".repeat(MAX_LINE_LENGTH), truncated: true });
  }
});

Deno.test("readLines() cancels the stream when the consumer stops early", async () => {
  const { stream, cancelled } = endless("https://h.example/x.png\n");
  let count = 0;
  for await (const line of readLines(stream)) {
    assert.equal(line.text, "https://h.example/x.png");
    if (++count === 3) break;
  }
  assert.equal(count, 3);
  assert.ok(cancelled());
});

Deno.test("readLines() closes a file when the consumer stops early", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/urls.txt`;
  await Deno.writeTextFile(path, "https://h.example/x.png\n".repeat(100_000));
  const file = await Deno.open(path);
  for await (const line of readLines(file.readable)) {
    assert.equal(line.line, 1);
    break;
  }
  // The file is closed: closing it again fails.
  assert.throws(() => file.close(), Deno.errors.BadResource);
});

Deno.test("readLines() refuses what is not a stream", async () => {
  await assert.rejects(
    () => Array.fromAsync(readLines("urls" as unknown as ReadableStream<Uint8Array>)),
    TypeError,
  );
});

Deno.test("checkUrl() accepts http and https URLs", () => {
  for (const text of ["https://h.example/x.png", "http://h.example:8080/a/b?c=d#e"]) {
    const url = checkUrl(text);
    assert.ok(url instanceof URL);
    assert.equal(url.href, text);
  }
});

Deno.test("checkUrl() explains what is wrong", () => {
  assert.equal(
    checkUrl("ftp://x/y"),
    '"ftp://x/y" uses the ftp: scheme; only http: and https: are supported',
  );
  assert.equal(
    checkUrl("data:image/png;base64,AAAA"),
    '"data:image/png;base64,AAAA" uses the data: scheme; only http: and https: are supported',
  );
  assert.equal(
    checkUrl("foo bar"),
    '"foo bar" is not a URL (expected something like https://example.com/cat.png)',
  );
  assert.equal(
    checkUrl(""),
    '"" is not a URL (expected something like https://example.com/cat.png)',
  );
  assert.equal(
    checkUrl("example.com/cat.png"),
    '"example.com/cat.png" has no scheme; write it as "https://example.com/cat.png"',
  );
  assert.equal(
    checkUrl("//cdn.example.com/cat.png"),
    '"//cdn.example.com/cat.png" has no scheme; write it as "https://cdn.example.com/cat.png"',
  );
  assert.equal(
    checkUrl("localhost:8080/cat.png"),
    '"localhost:8080/cat.png" has no scheme; write it as "http://localhost:8080/cat.png"',
  );
  assert.equal(
    checkUrl("https://exa mple.com/x.png"),
    '"https://exa mple.com/x.png" is not a valid URL (look for spaces or characters out of place)',
  );
  const long = checkUrl("ftp://h.example/" + "x".repeat(1000));
  assert.equal(typeof long, "string");
  assert.ok((long as string).length < 300);
  assert.throws(() => checkUrl(undefined as unknown as string), TypeError);
});

Deno.test("formatFromPath() goes by the extension, ignoring .gz", () => {
  assert.equal(formatFromPath("a.csv"), "csv");
  assert.equal(formatFromPath("dir.csv/a.CSV.GZ"), "csv");
  assert.equal(formatFromPath("a.tsv"), "tsv");
  assert.equal(formatFromPath("a.tsv.gz"), "tsv");
  assert.equal(formatFromPath("a.jsonl"), "jsonl");
  assert.equal(formatFromPath("a.ndjson.gz"), "jsonl");
  assert.equal(formatFromPath("a.txt"), "lines");
  assert.equal(formatFromPath("a.gz"), "lines");
  assert.equal(formatFromPath("-"), "lines");
  assert.equal(formatFromPath("csv"), "lines");
  assert.throws(() => formatFromPath(3 as unknown as string), TypeError);
});

Deno.test("readEntries() lines: trims, skips blanks and comments, reports bad URLs", async () => {
  const text = [
    "# a comment",
    "  https://h.example/a.png  ",
    "",
    "   # indented comment",
    "\t",
    "ftp://h.example/b.png",
    "https://h.example/c.png\r",
    "not a url",
  ].join("\n");
  const items = await entries(text, "lines");
  assert.equal(items.length, 4);
  assert.deepEqual(items[0], { line: 2, url: "https://h.example/a.png" });
  assert.deepEqual(problem(items[1]), {
    line: 6,
    text: "ftp://h.example/b.png",
    error: '"ftp://h.example/b.png" uses the ftp: scheme; only http: and https: are supported',
  });
  assert.deepEqual(items[2], { line: 7, url: "https://h.example/c.png" });
  assert.equal(problem(items[3]).line, 8);
  assert.equal(problem(items[3]).text, "not a url");
});

Deno.test("readEntries() lines: reports a line that is too long, and goes on", async () => {
  const text = `https://h.example/${"x".repeat(MAX_LINE_LENGTH)}.png\nhttps://h.example/ok.png\n`;
  const items = await entries(text, "lines", 4096);
  assert.equal(items.length, 2);
  assert.match(problem(items[0]).error, /longer than 65536 characters/);
  assert.ok(problem(items[0]).text.length <= 201);
  assert.deepEqual(items[1], { line: 2, url: "https://h.example/ok.png" });
});

Deno.test("readEntries() decompresses gzip, whatever the format", async () => {
  const lines = await entries(
    await gzip("https://h.example/a.png\nhttps://h.example/b.png"),
    "lines",
  );
  assert.deepEqual(lines, [
    { line: 1, url: "https://h.example/a.png" },
    { line: 2, url: "https://h.example/b.png" },
  ]);
  const csv = await gzip("\ufeffURL,Name\r\nhttps://h.example/a.png,a.png\r\n");
  assert.deepEqual(await entries(csv, "csv", 3), [
    { line: 2, url: "https://h.example/a.png", name: "a.png" },
  ]);
  const jsonl = await gzip('{"url":"https://h.example/a.png"}\n');
  assert.deepEqual(await entries(jsonl, "jsonl", 1), [
    { line: 1, url: "https://h.example/a.png" },
  ]);
  // A first chunk too short to tell is read on; a lone byte is still text.
  assert.deepEqual(await entries("https://h.example/a.png", "lines", 1), [
    { line: 1, url: "https://h.example/a.png" },
  ]);
  const lone = await entries("\x1f", "lines");
  assert.equal(lone.length, 1);
  assert.equal(problem(lone[0]).line, 1);
});

Deno.test("readEntries() reads a gzip file from disk and closes it when stopped early", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/list.txt`;
  let text = "";
  for (let i = 0; i < 50_000; i++) text += `https://h.example/${i}.png\n`;
  await Deno.writeFile(path, await gzip(text));
  const file = await Deno.open(path);
  const seen: string[] = [];
  for await (const item of readEntries(file.readable, formatFromPath(path))) {
    assert.ok(!("error" in item));
    seen.push(item.url);
    if (seen.length === 2) break;
  }
  assert.deepEqual(seen, ["https://h.example/0.png", "https://h.example/1.png"]);
  assert.throws(() => file.close(), Deno.errors.BadResource);

  // And read to the end, all of it.
  const all = await Array.fromAsync(readEntries((await Deno.open(path)).readable, "lines"));
  assert.equal(all.length, 50_000);
  assert.deepEqual(all.at(-1), { line: 50_000, url: "https://h.example/49999.png" });
});

Deno.test("readEntries() cancels an endless gzip stream when stopped early", async () => {
  const member = await gzip("https://h.example/x.png\n".repeat(1000));
  let cancelled = false;
  let sent = false;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      // One gzip member, then a stream that never ends.
      if (!sent) controller.enqueue(member);
      sent = true;
    },
    cancel() {
      cancelled = true;
    },
  }, { highWaterMark: 0 });
  let count = 0;
  for await (const item of readEntries(stream, "lines")) {
    assert.ok(!("error" in item));
    if (++count === 5) break;
  }
  assert.equal(count, 5);
  assert.ok(cancelled);
});

Deno.test("readEntries() rejects corrupt gzip with a TypeError", async () => {
  const bytes = new Uint8Array([0x1f, 0x8b, 0x08, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  await assert.rejects(() => entries(bytes, "lines"), (error: unknown) => {
    assert.ok(error instanceof TypeError);
    assert.match(error.message, /gzip/);
    return true;
  });
});

Deno.test("readEntries() csv: quotes, embedded commas, newlines and quotes", async () => {
  const text = [
    "id,Url,name,sha256,extra",
    '1,https://h.example/a.png,"Tabby, the cat.png",,x',
    '2,"https://h.example/b.png","two',
    'lines ""quoted"".png",' + "AB".repeat(32) + ",y",
    "",
    "3,https://h.example/c.png",
    ",,,,",
    '4,"https://h.example/d.png"  ,  d.png  ,  ,',
  ].join("\r\n") + "\r\n";
  const expected = [
    { line: 2, url: "https://h.example/a.png", name: "Tabby, the cat.png" },
    {
      line: 3,
      url: "https://h.example/b.png",
      name: 'two\r\nlines "quoted".png',
      sha256: "ab".repeat(32),
    },
    { line: 6, url: "https://h.example/c.png" },
    { line: 8, url: "https://h.example/d.png", name: "d.png" },
  ];
  assert.deepEqual(await entries(text, "csv"), expected);
  // Chunk boundaries anywhere give the same records.
  for (const size of [1, 2, 3, 7]) assert.deepEqual(await entries(text, "csv", size), expected);
  // LF only, and no newline at the end.
  const lf = 'url\nhttps://h.example/a.png\n"https://h.example/b.png"';
  assert.deepEqual(await entries(lf, "csv", 1), [
    { line: 2, url: "https://h.example/a.png" },
    { line: 3, url: "https://h.example/b.png" },
  ]);
});

Deno.test("readEntries() csv: reports bad rows with their line numbers", async () => {
  const text = [
    "url,sha256",
    "ftp://h.example/a.png,",
    '"https://h.example/b.png",nothex',
    "https://h.example/c.png," + "0".repeat(63),
    ",",
    ",abc",
    "https://h.example/ok.png",
  ].join("\n");
  const items = await entries(text, "csv");
  assert.equal(items.length, 5);
  assert.equal(problem(items[0]).line, 2);
  assert.match(problem(items[0]).error, /ftp: scheme/);
  assert.equal(problem(items[1]).line, 3);
  assert.equal(problem(items[1]).text, "https://h.example/b.png");
  assert.equal(problem(items[1]).error, `'sha256' must be 64 hex digits, got "nothex"`);
  assert.equal(problem(items[2]).line, 4);
  assert.equal(problem(items[3]).line, 6);
  assert.match(problem(items[3]).error, /no URL/);
  assert.deepEqual(items[4], { line: 7, url: "https://h.example/ok.png" });
});

Deno.test("readEntries() csv: an unclosed quote is a problem at its line", async () => {
  const text = 'url\nhttps://h.example/a.png\n"https://h.example/b.png\nhttps://h.example/c.png\n';
  const items = await entries(text, "csv");
  assert.equal(items.length, 2);
  assert.deepEqual(items[0], { line: 2, url: "https://h.example/a.png" });
  assert.equal(problem(items[1]).line, 3);
  assert.match(problem(items[1]).error, /never closed/);
});

Deno.test("readEntries() csv: a record that is too long is a problem, and reading goes on", async () => {
  const huge = "x".repeat(MAX_LINE_LENGTH + 5);
  const text =
    `url,name\nhttps://h.example/a.png,"${huge}\n${huge}"\nhttps://h.example/b.png,${huge}\n` +
    "https://h.example/c.png,c\n";
  for (const size of [Infinity, 5000]) {
    const items = await entries(text, "csv", size);
    assert.equal(items.length, 3);
    assert.equal(problem(items[0]).line, 2);
    assert.match(problem(items[0]).error, /longer than 65536 characters/);
    assert.equal(problem(items[1]).line, 4);
    assert.deepEqual(items[2], { line: 5, url: "https://h.example/c.png", name: "c" });
  }
});

Deno.test("readEntries() csv: a missing url column is a TypeError, and the stream is released", async () => {
  const { stream, cancelled } = endless("https://h.example/a.png,a\n");
  const header = encoder.encode("link,name\n");
  const reader = stream.getReader();
  let first = true;
  const withHeader = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (first) controller.enqueue(header);
      else controller.enqueue((await reader.read()).value!);
      first = false;
    },
    async cancel(reason) {
      await reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  await assert.rejects(() => Array.fromAsync(readEntries(withHeader, "csv")), (error: unknown) => {
    assert.ok(error instanceof TypeError);
    assert.match(error.message, /no 'url' column/);
    assert.match(error.message, /"link", "name"/);
    return true;
  });
  assert.ok(cancelled());
  // An empty list has no header, and no entries either.
  assert.deepEqual(await entries("", "csv"), []);
  assert.deepEqual(await entries("\n\n", "tsv"), []);
});

Deno.test("readEntries() tsv: tabs separate, quotes still work", async () => {
  const text =
    'name\tURL\n"a\tb.png"\thttps://h.example/a.png\nc, d.png\thttps://h.example/c.png\n';
  assert.deepEqual(await entries(text, "tsv"), [
    { line: 2, url: "https://h.example/a.png", name: "a\tb.png" },
    { line: 3, url: "https://h.example/c.png", name: "c, d.png" },
  ]);
});

Deno.test("readEntries() jsonl: objects, bad JSON and bad fields", async () => {
  const text = [
    '{"url": "https://h.example/a.png", "name": "a.png", "sha256": "' + "CD".repeat(32) + '"}',
    "",
    "{not json",
    '["https://h.example/b.png"]',
    '{"name": "c.png"}',
    '{"url": 42}',
    '{"url": "https://h.example/d.png", "name": 7}',
    '{"url": "https://h.example/e.png", "sha256": "beef"}',
    '  {"url": " https://h.example/f.png ", "name": "", "sha256": null, "other": 1}  \r',
    '{"url": "mailto:a@h.example"}',
  ].join("\n");
  const items = await entries(text, "jsonl");
  assert.equal(items.length, 9);
  assert.deepEqual(items[0], {
    line: 1,
    url: "https://h.example/a.png",
    name: "a.png",
    sha256: "cd".repeat(32),
  });
  assert.equal(problem(items[1]).line, 3);
  assert.equal(problem(items[1]).text, "{not json");
  assert.match(problem(items[1]).error, /not valid JSON/);
  assert.equal(problem(items[2]).line, 4);
  assert.match(problem(items[2]).error, /expected a JSON object/);
  assert.equal(problem(items[3]).line, 5);
  assert.match(problem(items[3]).error, /no URL/);
  assert.equal(problem(items[4]).error, "'url' must be a string, got a number");
  assert.equal(problem(items[5]).error, "'name' must be a string, got a number");
  assert.equal(problem(items[6]).error, `'sha256' must be 64 hex digits, got "beef"`);
  assert.deepEqual(items[7], { line: 9, url: "https://h.example/f.png" });
  assert.equal(problem(items[8]).line, 10);
  assert.match(problem(items[8]).error, /mailto: scheme/);
});

Deno.test("readEntries() refuses a bad stream or format", async () => {
  await assert.rejects(
    () => Array.fromAsync(readEntries(null as unknown as ReadableStream<Uint8Array>, "lines")),
    TypeError,
  );
  const { stream, cancelled } = endless("x\n");
  await assert.rejects(
    () => Array.fromAsync(readEntries(stream, "xml" as "lines")),
    /unknown format "xml"/,
  );
  assert.ok(cancelled());
});
