/**
 * What happens inside the worker when a body is written: exclusive temporary files, commits that
 * never replace, proof of wholeness, strict resume, timers that measure progress, a lost output
 * directory, and network errors worded by their cause.
 */

import assert from "node:assert/strict";
import { download, OutDirLostError } from "../mod.ts";
import { PartFile } from "../src/worker/part_file.ts";
import {
  partPath,
  RESUME_DIR,
  resumeNotePath,
  sweepParts,
  WriterMark,
} from "../src/worker/resume.ts";
import { memoryBytes, wholeness } from "../src/worker/complete.ts";
import type { WorkerConfig } from "../src/protocol.ts";
import {
  collect,
  cutBody,
  fetchWatched,
  localServer,
  rangeResponse,
  tempDir,
  workerConfig,
} from "./helpers.ts";

const IEND = [0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82];

/** A PNG-shaped body of `size` bytes: the signature, noise, and the IEND chunk. */
function png(size: number, seed = 1): Uint8Array<ArrayBuffer> {
  const body = new Uint8Array(size).map((_, i) => (i * 31 + seed * 7) & 0xff);
  body.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  body.set(IEND, size - IEND.length);
  return body;
}

function config(out: string, extra: Partial<WorkerConfig> = {}): WorkerConfig {
  return workerConfig(out, { maxBytes: 16 * 1024 * 1024, digest: false, ...extra });
}

async function get(href: string, cfg: WorkerConfig, resume = false, path = "x.png") {
  return await fetchWatched({ id: 1, href, path, resume }, cfg);
}

async function entries(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

/**
 * A raw HTTP/1.0-style server: for each connection it reads the request and writes `head`, then
 * `body`, then closes the connection (a close-delimited body: no Content-Length).
 */
function rawServer(respond: (request: string) => { head: string; body: Uint8Array }) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const serving = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      (async () => {
        try {
          const buffer = new Uint8Array(16384);
          const n = await conn.read(buffer);
          const request = new TextDecoder().decode(buffer.subarray(0, n ?? 0));
          const { head, body } = respond(request);
          await conn.write(new TextEncoder().encode(head));
          let at = 0;
          while (at < body.byteLength) at += await conn.write(body.subarray(at));
        } catch {
          // The client went away.
        } finally {
          conns.delete(conn);
          try {
            conn.close();
          } catch { /* closed */ }
        }
      })();
    }
  })();
  const port = (listener.addr as Deno.NetAddr).port;
  return {
    origin: `http://127.0.0.1:${port}`,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
      await serving.catch(() => {});
    },
  };
}

/**
 * A server that sends `body` with its Content-Length, in `parts` equal pieces `delay` ms apart;
 * disposing of it clears its timers and closes it.
 */
function trickleServer(body: Uint8Array<ArrayBuffer>, parts: number, delay: number) {
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const size = Math.ceil(body.length / parts);
  const server = localServer(() => {
    let part = 0;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (part === parts) return controller.close();
        await new Promise((resolve) => timers.add(setTimeout(resolve, delay)));
        controller.enqueue(body.slice(part * size, ++part * size));
      },
      cancel() {},
    });
    return new Response(stream, { headers: { "content-length": String(body.length) } });
  });
  return {
    origin: server.origin,
    async [Symbol.asyncDispose]() {
      for (const timer of timers) clearTimeout(timer);
      await server[Symbol.asyncDispose]();
    },
  };
}

Deno.test("a PNG without Content-Length cut short by a closed connection is not saved; whole, it is", async () => {
  const whole = png(50_000);
  await using server = rawServer((request) => {
    const cut = request.startsWith("GET /cut");
    return {
      head: "HTTP/1.0 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\n\r\n",
      body: cut ? whole.subarray(0, 30_000) : whole,
    };
  });
  await using out = await tempDir("downpour-safety-");
  const cut = await get(`${server.origin}/cut.png`, config(out.path));
  assert.equal(cut.ok, false);
  assert.equal(cut.reason, "truncated");
  assert.match(cut.error!, /IEND/);
  assert.deepEqual(await entries(out.path), [], "no final file, no temporary file");
  const saved = await get(`${server.origin}/whole.png`, config(out.path));
  assert.equal(saved.ok, true, saved.error);
  assert.deepEqual(await Deno.readFile(`${out.path}/x.png`), whole);
});

Deno.test("a small body trickled steadily is saved: the idle timer restarts with every read", async () => {
  const body = png(200_000);
  await using server = trickleServer(body, 20, 100);
  await using out = await tempDir("downpour-safety-");
  const outcome = await get(`${server.origin}/x.png`, config(out.path, { idleTimeout: 1000 }));
  assert.equal(outcome.ok, true, outcome.error);
  assert.deepEqual(await Deno.readFile(`${out.path}/x.png`), body);
});

Deno.test("a body of known length up to 128 KiB is read in one go: the idle limit covers it all", async () => {
  const body = png(100_000);
  await using server = trickleServer(body, 10, 150);
  await using out = await tempDir("downpour-safety-");
  // 1.5 s in all, 150 ms between bytes: over a 1 s limit, though no gap is.
  const cut = await get(`${server.origin}/x.png`, config(out.path, { idleTimeout: 1000 }));
  assert.equal(cut.ok, false);
  assert.equal(cut.reason, "timeout");
  assert.deepEqual(await entries(out.path), [], "no final file, no temporary file");
  const saved = await get(`${server.origin}/x.png`, config(out.path, { idleTimeout: 4000 }));
  assert.equal(saved.ok, true, saved.error);
  assert.deepEqual(await Deno.readFile(`${out.path}/x.png`), body);
});

Deno.test("a Content-Length beside Transfer-Encoding: chunked is not trusted: --max-bytes still holds", async () => {
  // The HTTP layer reads such a body as chunked, however long: it is streamed and counted.
  const chunk = png(64 * 1024);
  const parts: Uint8Array[] = [];
  for (let i = 0; i < 128; i++) {
    parts.push(new TextEncoder().encode(`${chunk.length.toString(16)}\r\n`), chunk);
    parts.push(new TextEncoder().encode("\r\n"));
  }
  parts.push(new TextEncoder().encode("0\r\n\r\n"));
  const body = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) body.set(part, (at += part.length) - part.length);
  await using server = rawServer(() => ({
    head: "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n" +
      "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    body,
  }));
  await using out = await tempDir("downpour-safety-");
  const outcome = await get(`${server.origin}/x.png`, config(out.path, { maxBytes: 1024 * 1024 }));
  assert.equal(outcome.ok, false);
  assert.equal(outcome.reason, "too-large", outcome.error);
  assert.deepEqual(await entries(out.path), []);
});

Deno.test("a small body read in one go is not held to the low-speed limit while it comes", async () => {
  const body = png(100_000);
  await using server = trickleServer(body, 10, 150);
  await using out = await tempDir("downpour-safety-");
  // 1.5 s at about 65 KB/s: fast enough, though no byte is seen until the end of the body.
  const saved = await get(
    `${server.origin}/x.png`,
    config(out.path, { idleTimeout: 5000, lowSpeedLimit: 1024, lowSpeedTime: 500 }),
  );
  assert.equal(saved.ok, true, saved.error);
  assert.deepEqual(await Deno.readFile(`${out.path}/x.png`), body);
});

Deno.test("a body trickling a byte every 300 ms fails by the low-speed limit", async () => {
  const body = png(1000);
  const timers = new Set<ReturnType<typeof setTimeout>>();
  await using server = localServer(() => {
    let at = 0;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (at >= body.length) return controller.close();
        await new Promise((resolve) => timers.add(setTimeout(resolve, 300)));
        controller.enqueue(body.slice(at, ++at));
      },
      cancel() {},
    });
    return new Response(stream);
  });
  await using out = await tempDir("downpour-safety-");
  const started = performance.now();
  const outcome = await get(
    `${server.origin}/x.png`,
    config(out.path, { idleTimeout: 5000, lowSpeedLimit: 100, lowSpeedTime: 1000 }),
  );
  assert.equal(outcome.ok, false);
  assert.equal(outcome.reason, "timeout");
  assert.match(outcome.error!, /--low-speed-limit/);
  assert.ok(performance.now() - started < 4000, "it stopped at the limit, not at the end");
  assert.deepEqual(await entries(out.path), []);
  for (const timer of timers) clearTimeout(timer);
});

/** A server for resume tests: a large PNG, cut after `cut` bytes on the first request. */
function resumeServer(
  full: Uint8Array<ArrayBuffer>,
  cut: number,
  respond206: (start: number, req: Request) => Response,
  etag = '"v1"',
) {
  const seen: { range: string | null; ifRange: string | null }[] = [];
  const server = localServer((req) => {
    const range = req.headers.get("range");
    seen.push({ range, ifRange: req.headers.get("if-range") });
    if (range) return respond206(Number(/bytes=(\d+)-/.exec(range)![1]), req);
    return new Response(cutBody(full, cut), {
      headers: { etag, "content-length": String(full.length) },
    });
  });
  return { server, seen };
}

Deno.test("resume: a 206 from a changed file (another ETag) is never spliced; the file comes whole", async () => {
  const old = png(3 * 1024 * 1024, 1);
  const changed = png(3 * 1024 * 1024, 2);
  let version = old;
  const { server, seen } = resumeServer(
    old,
    2 * 1024 * 1024,
    (start) => rangeResponse(version, start, '"v2"'),
  );
  await using _server = server;
  await using out = await tempDir("downpour-safety-");
  const first = await get(`${server.origin}/x.png`, config(out.path));
  assert.equal(first.partial, true, first.error);
  version = changed;
  const second = await get(`${server.origin}/x.png`, config(out.path), true);
  assert.equal(second.ok, false);
  assert.equal(second.reason, "length-mismatch");
  assert.match(second.error!, /changed/);
  assert.equal(seen[1]!.ifRange, '"v1"');
  assert.deepEqual(await entries(out.path), [".downpour-resume"], "the partial file is gone");
  await Deno.remove(`${out.path}/.downpour-resume`);
  // The next attempt has nothing to resume: it fetches the file whole (here, cut again at the
  // same place, so serve it whole by hand).
  await using whole = localServer(() => new Response(changed, { headers: { etag: '"v2"' } }));
  const third = await get(`${whole.origin}/x.png`, config(out.path));
  assert.equal(third.ok, true, third.error);
  assert.deepEqual(await Deno.readFile(`${out.path}/x.png`), changed);
});

Deno.test("resume: a Content-Range that promises more than the body brings fails, and nothing is saved", async () => {
  const full = png(3 * 1024 * 1024);
  const { server } = resumeServer(full, 2 * 1024 * 1024, (start) => {
    // Promises the rest, sends half of it, chunked (no Content-Length).
    const half = full.slice(start, start + (full.length - start) / 2);
    return rangeResponse(full, start, '"v1"', new Blob([half]).stream());
  });
  await using _server = server;
  await using out = await tempDir("downpour-safety-");
  const first = await get(`${server.origin}/x.png`, config(out.path));
  assert.equal(first.partial, true, first.error);
  const second = await get(`${server.origin}/x.png`, config(out.path), true);
  assert.equal(second.ok, false);
  assert.equal(second.reason, "length-mismatch");
  assert.ok(!(await entries(out.path)).includes("x.png"), "not saved");
});

Deno.test("resume: a weak ETag is never sent in If-Range", async () => {
  const full = png(3 * 1024 * 1024);
  const { server, seen } = resumeServer(
    full,
    2 * 1024 * 1024,
    () => new Response("unexpected", { status: 500 }),
    'W/"weak"',
  );
  await using _server = server;
  await using out = await tempDir("downpour-safety-");
  const first = await get(`${server.origin}/x.png`, config(out.path));
  assert.equal(first.ok, false);
  assert.notEqual(first.partial, true, "no resume note for a weak validator");
  assert.deepEqual(await entries(out.path), []);
  await get(`${server.origin}/x.png`, config(out.path), true);
  assert.deepEqual(seen[1], { range: null, ifRange: null });
});

Deno.test("a symlink and a FIFO planted at temporary names are never followed nor opened", async () => {
  const body = png(300_000); // streamed: larger than the stream buffer
  await using server = localServer(() => new Response(body, { headers: { etag: '"v1"' } }));
  await using outside = await tempDir("downpour-outside-");
  await using out = await tempDir("downpour-safety-");
  const victim = `${outside.path}/victim.txt`;
  await Deno.writeTextFile(victim, "keep me");
  // The old fixed temporary name, and names a note points to.
  await Deno.symlink(victim, `${out.path}/.x.png.part`);
  const fifo = new Deno.Command("mkfifo", { args: [`${out.path}/.y.png.part`] });
  assert.ok((await fifo.output()).success);
  const linkPart = partPath("x.png");
  const fifoPart = partPath("y.png");
  await Deno.symlink(victim, `${out.path}/${linkPart}`);
  assert.ok(
    (await new Deno.Command("mkfifo", { args: [`${out.path}/${fifoPart}`] }).output()).success,
  );
  await Deno.mkdir(`${out.path}/.downpour-resume`);
  for (const [path, part] of [["x.png", linkPart], ["y.png", fifoPart]]) {
    const href = `${server.origin}/${path}`;
    await Deno.writeTextFile(
      resumeNotePath(out.path, path!),
      JSON.stringify({ path, href, validator: '"v1"', etag: '"v1"', part }),
    );
  }
  for (const path of ["x.png", "y.png"]) {
    const outcome = await get(`${server.origin}/${path}`, config(out.path), true, path);
    assert.equal(outcome.ok, true, outcome.error);
    assert.deepEqual(await Deno.readFile(`${out.path}/${path}`), body);
    assert.ok(Deno.lstatSync(`${out.path}/${path}`).isFile, `${path} is a regular file`);
  }
  assert.equal(await Deno.readTextFile(victim), "keep me", "the file outside is untouched");
  // A final name planted as a symlink is not written through either: the name is taken.
  await Deno.symlink(victim, `${out.path}/z.png`);
  const taken = await get(`${server.origin}/z.png`, config(out.path), false, "z.png");
  assert.equal(taken.ok, false);
  assert.equal(taken.taken, true);
  assert.equal(await Deno.readTextFile(victim), "keep me");
});

Deno.test("commits never replace: the same bytes are `exists`, another URL's file is `taken` and the URL gets another name", async () => {
  await using server = localServer((req) =>
    new Response(png(5000, new URL(req.url).pathname.length))
  );
  await using out = await tempDir("downpour-safety-");
  const same = png(5000, "/a/cat.png".length);
  await Deno.writeFile(`${out.path}/cat.png`, same);
  const exists = await get(`${server.origin}/a/cat.png`, config(out.path), false, "cat.png");
  assert.equal(exists.ok, true, exists.error);
  assert.equal(exists.exists, true);
  // Another file under the name: the engine gives the URL the next name, and the file stays.
  await Deno.writeTextFile(`${out.path}/dog.png`, "another URL's file");
  const results = await collect(
    download([`${server.origin}/b/dog.png`], { out: out.path, journal: false, workers: 1 }),
  );
  assert.equal(results.length, 1);
  assert.equal(results[0]!.ok, true, results[0]!.error);
  assert.match(results[0]!.path!, /^dog-[0-9a-f]{8}\.png$/);
  assert.equal(results[0]!.attempts, 1);
  assert.equal(await Deno.readTextFile(`${out.path}/dog.png`), "another URL's file");
  assert.deepEqual(
    await Deno.readFile(`${out.path}/${results[0]!.path}`),
    png(5000, "/b/dog.png".length),
  );
  // The same URL again into the directory, without a journal: its own bytes are there.
  const again = await collect(
    download([`${server.origin}/a/cat.png`], { out: out.path, journal: false, workers: 1 }),
  );
  assert.equal(again[0]!.skipped, "exists");
  assert.deepEqual(
    (await entries(out.path)).filter((name) => name.endsWith(".part")),
    [],
    "no temporary file is left",
  );
});

Deno.test("an output directory deleted mid-run stops the run with OutDirLostError", async () => {
  await using server = localServer(async () => {
    await new Promise((resolve) => setTimeout(resolve, 100));
    return new Response(png(2000));
  });
  await using parent = await tempDir("downpour-safety-");
  const out = `${parent.path}/out`;
  const urls = Array.from({ length: 60 }, (_, i) => `${server.origin}/${i}.png`);
  const seen: string[] = [];
  const started = performance.now();
  await assert.rejects(async () => {
    for await (const result of download(urls, { out, workers: 1, concurrency: 2 })) {
      seen.push(result.url);
      if (seen.length === 1) await Deno.remove(out, { recursive: true });
    }
  }, (error: Error) => {
    assert.ok(error instanceof OutDirLostError, String(error));
    assert.match(error.message, /went away/);
    return true;
  });
  assert.ok(seen.length < 10, `it stopped early: ${seen.length} results`);
  assert.ok(performance.now() - started < 3000, "not after fetching everything");
});

Deno.test("network errors name their cause: connection refused, name not resolved", async () => {
  await using out = await tempDir("downpour-safety-");
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const refused = await get(`http://127.0.0.1:${port}/x.png`, config(out.path));
  assert.equal(refused.reason, "network");
  assert.equal(refused.error, `connection refused (127.0.0.1:${port})`);
  const unresolved = await get("http://nonexistent.invalid/x.png", config(out.path));
  assert.equal(unresolved.reason, "network");
  assert.match(unresolved.error!, /nonexistent\.invalid did not resolve/);
});

Deno.test("network errors name their cause: too large headers, an answer that is not HTTP", async () => {
  await using out = await tempDir("downpour-safety-");
  await using server = rawServer((request) => ({
    head: request.startsWith("GET /big")
      ? "HTTP/1.1 200 OK\r\n" +
        Array.from({ length: 2000 }, (_, i) => `x-h${i}: ${"a".repeat(50)}\r\n`).join("") + "\r\n"
      : "NOT HTTP\r\n\r\n",
    body: new Uint8Array(0),
  }));
  const big = await get(`${server.origin}/big.png`, config(out.path));
  assert.match(big.error!, /headers are too large/);
  const garbage = await get(`${server.origin}/garbage.png`, config(out.path));
  assert.match(garbage.error!, /not valid HTTP/);
});

Deno.test("resume: a partial file that is a saved file's other link (a commit killed between link and unlink) is never appended to", async () => {
  const body = png(300_000);
  const modified = "Mon, 01 Jan 2024 00:00:00 GMT";
  const ranges: string[] = [];
  await using server = localServer((req) => {
    const headers = { "last-modified": modified, date: new Date().toUTCString() };
    const range = req.headers.get("range");
    if (!range) return new Response(body, { headers });
    ranges.push(range);
    const start = Number(/bytes=(\d+)-/.exec(range)![1]);
    return new Response("EXTRA", {
      status: 206,
      headers: { ...headers, "content-range": `bytes ${start}-${start + 4}/${start + 5}` },
    });
  });
  await using out = await tempDir("downpour-safety-");
  const href = `${server.origin}/a.png`;
  // What a kill -9 between link(part, final) and unlink(part) leaves: the saved file, its
  // temporary name (the same inode) and the note naming it.
  await Deno.writeFile(`${out.path}/a.png`, body);
  const part = partPath("a.png");
  await Deno.link(`${out.path}/a.png`, `${out.path}/${part}`);
  await Deno.mkdir(`${out.path}/${RESUME_DIR}`);
  await Deno.writeTextFile(
    resumeNotePath(out.path, "a.png"),
    JSON.stringify({ path: "a.png", href, validator: modified, part }),
  );
  const outcome = await get(href, config(out.path), true, "a.png");
  assert.equal(outcome.ok, true, outcome.error);
  assert.deepEqual(await Deno.readFile(`${out.path}/a.png`), body, "the saved file is untouched");
  assert.deepEqual(ranges, [], "nothing was resumed");
  assert.deepEqual(await entries(out.path), [RESUME_DIR, "a.png"]);
  assert.deepEqual(await entries(`${out.path}/${RESUME_DIR}`), [], "the note is gone");
});

Deno.test("wholeness: a GIF or a JPEG is whole only when its blocks reach its end marker at its end", async () => {
  // The encoder the dataset's resizing uses makes real GIFs and JPEGs to check.
  // deno-lint-ignore no-import-prefix
  const { default: sharp } = await import("npm:sharp@0.35.5");
  const raw = { raw: { width: 40, height: 30, channels: 3 as const } };
  const pixels = new Uint8Array(40 * 30 * 3).map((_, i) => (i * 37) & 0xff);
  const encode = async (image: import("npm:sharp@0.35.5").Sharp) =>
    new Uint8Array(await image.toBuffer());
  const whole = (type: "gif" | "jpeg", bytes: Uint8Array) => wholeness(type, memoryBytes(bytes));
  const everyCutFails = (type: "gif" | "jpeg", bytes: Uint8Array) => {
    for (let n = 0; n < bytes.length; n++) {
      assert.notEqual(whole(type, bytes.subarray(0, n)), undefined, `${type} cut at ${n}`);
    }
  };

  // A GIF with a 3B byte inside its image data, cut right after it.
  const head = [...new TextEncoder().encode("GIF89a"), 10, 0, 10, 0, 0, 0, 0];
  const image = [0x2c, 0, 0, 0, 0, 10, 0, 10, 0, 0, 8, 20, 1, 2, 3, 0x3b, ...Array(16).fill(9)];
  const gif = new Uint8Array([...head, ...image, 0, 0x3b]);
  assert.equal(whole("gif", gif), undefined);
  assert.equal(whole("gif", new Uint8Array([...gif, 0, 0, 0])), undefined, "zero padding");
  assert.match(whole("gif", gif.subarray(0, head.length + 16))!, /an image is cut/);
  assert.match(whole("gif", new Uint8Array([...gif, 1, 0x3b]))!, /followed by more data/);
  everyCutFails("gif", gif);
  const encoded = await encode(sharp(pixels, raw).gif());
  assert.equal(whole("gif", encoded), undefined);
  everyCutFails("gif", encoded);

  // JPEGs, baseline and progressive (several scans), and one with an EXIF thumbnail in APP1.
  for (
    const jpeg of [
      await encode(sharp(pixels, raw).jpeg()),
      await encode(sharp(pixels, raw).jpeg({ progressive: true })),
    ]
  ) {
    assert.equal(whole("jpeg", jpeg), undefined);
    everyCutFails("jpeg", jpeg);
  }
  const main = await encode(sharp(pixels, raw).jpeg());
  const thumbnail = await encode(sharp(pixels, raw).resize(8, 6).jpeg());
  const exif = [...new TextEncoder().encode("Exif\0\0II*\0"), 8, 0, 0, 0, ...thumbnail];
  const app1 = [0xff, 0xe1, (exif.length + 2) >> 8, (exif.length + 2) & 0xff, ...exif];
  const withThumbnail = new Uint8Array([0xff, 0xd8, ...app1, ...main.subarray(2)]);
  assert.equal(whole("jpeg", withThumbnail), undefined);
  const afterThumbnail = 2 + app1.length;
  assert.deepEqual([...withThumbnail.subarray(afterThumbnail - 2, afterThumbnail)], [0xff, 0xd9]);
  assert.match(whole("jpeg", withThumbnail.subarray(0, afterThumbnail))!, /before its EOI/);
  const padded = new Uint8Array([...withThumbnail.subarray(0, afterThumbnail), 0, 0]);
  assert.notEqual(whole("jpeg", padded), undefined);
  assert.equal(whole("jpeg", new Uint8Array([...withThumbnail, 0, 0])), undefined, "zero padding");
  assert.equal(whole("jpeg", new Uint8Array([...main, ...main])), undefined, "two, as in an MPO");
  assert.match(whole("jpeg", new Uint8Array([...main, 1, 0xff, 0xd9]))!, /followed by more data/);
});

Deno.test("the sweep keeps a partial file whose note was written after the notes were listed", async () => {
  await using out = await tempDir("downpour-safety-");
  const resumed = partPath("x.png");
  const abandoned = partPath("y.png");
  const old = new Date(Date.now() - 60_000);
  for (const part of [resumed, abandoned]) {
    await Deno.writeFile(`${out.path}/${part}`, png(1000));
    await Deno.utime(`${out.path}/${part}`, old, old);
  }
  await Deno.mkdir(`${out.path}/${RESUME_DIR}`);
  await Deno.writeTextFile(
    resumeNotePath(out.path, "x.png"),
    JSON.stringify({
      path: "x.png",
      href: "http://h.example/x.png",
      validator: '"v1"',
      part: resumed,
    }),
  );
  // The notes as listed before a live writer took x.png's partial file over and was cut off.
  await sweepParts(out.path, new Set());
  assert.deepEqual(await entries(out.path), [RESUME_DIR, resumed]);
});

Deno.test("a temporary name another writer holds is never opened: the name is drawn afresh", async () => {
  await using outside = await tempDir("downpour-outside-");
  await using out = await tempDir("downpour-safety-");
  const victim = `${outside.path}/victim.txt`;
  await Deno.writeTextFile(victim, "keep me");
  // This thread's names are a random half and a count: plant the next two names.
  const next = (name: string, ahead: number) => {
    const [, prefix, count] = /\.([0-9a-f]{8})([0-9a-f]{8})\.part$/.exec(partPath(name))!;
    const hex = ((parseInt(count!, 16) + ahead) >>> 0).toString(16).padStart(8, "0");
    return `.${name}.${prefix}${hex}.part`;
  };
  const inMemory = next("m.png", 1);
  await Deno.symlink(victim, `${out.path}/${inMemory}`);
  const body = png(1000);
  {
    using attempt = new PartFile(out.path, { path: "m.png", href: "http://h.example/m.png" });
    assert.equal(attempt.commit(body, body.length), "saved");
  }
  const streamed = next("s.png", 1);
  await Deno.symlink(victim, `${out.path}/${streamed}`);
  {
    using attempt = new PartFile(out.path, { path: "s.png", href: "http://h.example/s.png" });
    attempt.create(undefined);
    attempt.write(body);
    assert.equal(attempt.commit(undefined, body.length), "saved");
  }
  assert.deepEqual(await Deno.readFile(`${out.path}/m.png`), body);
  assert.deepEqual(await Deno.readFile(`${out.path}/s.png`), body);
  assert.equal(await Deno.readTextFile(victim), "keep me");
  assert.deepEqual(await entries(out.path), [inMemory, streamed, "m.png", "s.png"].sort());
});

Deno.test("supersede() keeps the note of a partial file that a live writer holds", async () => {
  await using out = await tempDir("downpour-safety-");
  const part = partPath("x.png");
  const note = resumeNotePath(out.path, "x.png");
  await Deno.writeFile(`${out.path}/${part}`, png(1000));
  await Deno.mkdir(`${out.path}/${RESUME_DIR}`);
  await Deno.writeTextFile(
    note,
    JSON.stringify({ path: "x.png", href: "http://h.example/x.png", validator: '"v1"', part }),
  );
  const job = { path: "x.png", href: "http://h.example/x.png", resume: true };
  {
    using writer = await Deno.open(`${out.path}/${part}`, { read: true, write: true });
    writer.lockSync(true);
    using attempt = new PartFile(out.path, job);
    assert.equal(attempt.resumable(), undefined, "held by the writer");
    attempt.supersede();
    assert.deepEqual(await entries(out.path), [RESUME_DIR, part]);
    assert.deepEqual(await entries(`${out.path}/${RESUME_DIR}`), [note.split("/").at(-1)]);
  }
  using later = new PartFile(out.path, { ...job, href: "http://h.example/other.png" });
  later.supersede(); // the writer is gone: both go
  assert.deepEqual(await entries(out.path), [RESUME_DIR]);
  assert.deepEqual(await entries(`${out.path}/${RESUME_DIR}`), []);
});

Deno.test("a run that starts while another ends and removes the empty directory of notes starts", async () => {
  await using out = await tempDir("downpour-safety-");
  // Two runs end while two start, many times over: the directory goes and comes back between
  // every step of a start (its mkdir, the look after it, the mark's creation).
  for (let i = 0; i < 500; i++) {
    const ending = await Promise.all([WriterMark.create(out.path), WriterMark.create(out.path)]);
    const starting = await Promise.all([
      ...ending.map((mark) => mark.release()),
      WriterMark.create(out.path),
      WriterMark.create(out.path),
    ]);
    for (const mark of starting) await mark?.release();
  }
});

Deno.test("a resume note never holds the URL's password, and the same URL resumes from it", async () => {
  await using out = await tempDir("downpour-safety-");
  const job = { path: "x.png", href: "http://user:s3cret@h.example/x.png", resume: false };
  {
    using first = new PartFile(out.path, job);
    first.create('"v1"', '"v1"', 5000);
    first.write(png(1000));
    assert.equal(first.kept, true);
  }
  const text = await Deno.readTextFile(resumeNotePath(out.path, "x.png"));
  assert.ok(!text.includes("s3cret"), text);
  assert.equal(JSON.parse(text).href, "http://user:***@h.example/x.png");
  using again = new PartFile(out.path, { ...job, resume: true });
  assert.equal(again.resumable()?.size, 1000);
  assert.ok(!(await Deno.readTextFile(resumeNotePath(out.path, "x.png"))).includes("s3cret"));
});

/**
 * An earlier attempt's partial file of half of `body`, with its note, and a server that resumes
 * it; `ranges` lists the ranges asked for.
 */
async function partialLeft(out: string, body: Uint8Array<ArrayBuffer>) {
  const modified = "Mon, 01 Jan 2024 00:00:00 GMT";
  const ranges: string[] = [];
  const server = localServer((req) => {
    const headers = { "last-modified": modified, date: new Date().toUTCString() };
    const range = req.headers.get("range");
    if (!range) return new Response(body, { headers });
    ranges.push(range);
    const start = Number(/bytes=(\d+)-/.exec(range)![1]);
    return new Response(body.slice(start), {
      status: 206,
      headers: { ...headers, "content-range": `bytes ${start}-${body.length - 1}/${body.length}` },
    });
  });
  const href = `${server.origin}/a.png`;
  const part = partPath("a.png");
  await Deno.writeFile(`${out}/${part}`, body.subarray(0, body.length / 2));
  await Deno.mkdir(`${out}/${RESUME_DIR}`);
  await Deno.writeTextFile(
    resumeNotePath(out, "a.png"),
    JSON.stringify({ path: "a.png", href, validator: modified, part }),
  );
  return { href, part, ranges, [Symbol.asyncDispose]: () => server[Symbol.asyncDispose]() };
}

Deno.test("resume: taking over a partial file never replaces another writer's temporary file", async () => {
  const body = png(300_000);
  await using out = await tempDir("downpour-safety-");
  await using left = await partialLeft(out.path, body);
  // The name the takeover draws next (this thread's names count up) is held by another writer,
  // whose random half of the name happened to be the same.
  const drawn = partPath("a.png");
  const hex = /\.([0-9a-f]{16})\.part$/.exec(drawn)![1]!;
  const next = (parseInt(hex.slice(8), 16) + 1).toString(16).padStart(8, "0");
  const theirs = drawn.replace(hex, hex.slice(0, 8) + next);
  const their = new TextEncoder().encode("another writer's bytes");
  await Deno.writeFile(`${out.path}/${theirs}`, their);

  const outcome = await get(left.href, config(out.path), true, "a.png");
  assert.equal(outcome.ok, true, outcome.error);
  assert.deepEqual(left.ranges, [`bytes=${body.length / 2}-`], "the partial file was resumed");
  assert.deepEqual(await Deno.readFile(`${out.path}/a.png`), body);
  assert.deepEqual(await Deno.readFile(`${out.path}/${theirs}`), their, "theirs is untouched");
  assert.deepEqual(await entries(out.path), [RESUME_DIR, theirs, "a.png"].sort());
  const prefix = (name: string) => /\.([0-9a-f]{8})[0-9a-f]{8}\.part$/.exec(name)![1];
  assert.notEqual(prefix(partPath("a.png")), prefix(drawn), "the taken name was drawn again");
});

Deno.test("resume: a partial file's name given to another file after it was opened stays that file's", async () => {
  const body = png(300_000);
  await using out = await tempDir("downpour-safety-");
  await using left = await partialLeft(out.path, body);
  const their = new TextEncoder().encode("another writer's bytes");
  // Between the open and the takeover's link, another writer puts its own file at the name, and
  // holds it locked as a writer does while it streams a body.
  const link = Deno.linkSync;
  let theirs: Deno.FsFile | undefined;
  Deno.linkSync = (from: string, to: string) => {
    if (!theirs && String(from).endsWith(left.part)) {
      theirs = Deno.openSync(`${out.path}/theirs.tmp`, { write: true, createNew: true });
      theirs.writeSync(their);
      assert.ok(theirs.tryLockSync(true));
      Deno.renameSync(`${out.path}/theirs.tmp`, `${out.path}/${left.part}`);
    }
    link(from, to);
  };
  try {
    const outcome = await get(left.href, config(out.path), true, "a.png");
    assert.equal(outcome.ok, true, outcome.error);
  } finally {
    Deno.linkSync = link;
    theirs?.close();
  }
  assert.ok(theirs, "the name was given to another file");
  assert.deepEqual(left.ranges, [], "nothing was resumed");
  assert.deepEqual(await Deno.readFile(`${out.path}/a.png`), body);
  assert.deepEqual(await Deno.readFile(`${out.path}/${left.part}`), their, "theirs keeps its name");
  assert.deepEqual(await entries(out.path), [RESUME_DIR, left.part, "a.png"].sort());
});

Deno.test("resume: a partial file another writer committed while its lock was awaited is never appended to", async () => {
  const body = png(300_000);
  await using out = await tempDir("downpour-safety-");
  await using left = await partialLeft(out.path, body);
  // Between the look at the partial file and its lock, the writer that held it links it to its
  // final name (its commit, whose unlink of the temporary name has not come yet).
  const proto = Deno.FsFile.prototype;
  const tryLock = proto.tryLockSync;
  let committed = false;
  proto.tryLockSync = function (this: Deno.FsFile, exclusive?: boolean) {
    if (!committed) {
      committed = true;
      Deno.linkSync(`${out.path}/${left.part}`, `${out.path}/a.png`);
    }
    return tryLock.call(this, exclusive);
  };
  try {
    const outcome = await get(left.href, config(out.path), true, "a.png");
    assert.equal(outcome.ok, false);
    assert.equal(outcome.taken, true, "a.png is the other writer's");
  } finally {
    proto.tryLockSync = tryLock;
  }
  assert.ok(committed);
  assert.deepEqual(left.ranges, [], "nothing was resumed");
  const saved = await Deno.readFile(`${out.path}/a.png`);
  assert.deepEqual(saved, body.subarray(0, body.length / 2), "the committed file is unchanged");
});

Deno.test("a directory above a file that another process removed is made again; the output directory never is", async () => {
  const body = png(5_000);
  await using server = localServer(() => new Response(body));
  await using out = await tempDir("downpour-safety-");
  // A dataset sample's path: its shard's directory inside `.downpour-samples`, which another
  // process sharding the same list removes when it finds it empty.
  const path = ".downpour-samples/00000/000000000.png";
  const saved = await get(`${server.origin}/a.png`, config(out.path), false, path);
  assert.equal(saved.ok, true, saved.error);
  assert.deepEqual(await Deno.readFile(`${out.path}/${path}`), body);
  // With the output directory itself gone, nothing is remade: the run learns it is lost.
  const gone = `${out.path}/gone`;
  const lost = await get(`${server.origin}/b.png`, config(gone), false, "00001/b.png");
  assert.equal(lost.ok, false);
  assert.equal(lost.dirLost, true);
  await assert.rejects(Deno.stat(gone), Deno.errors.NotFound);
});
