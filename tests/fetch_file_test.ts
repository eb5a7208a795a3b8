import assert from "node:assert/strict";
import { STREAM_BUFFER } from "../src/worker/fetch_file.ts";
import { partPath, resumeNotePath } from "../src/worker/resume.ts";
import type { WorkerConfig } from "../src/protocol.ts";
import { stableHash } from "../src/hash.ts";
import { cutBody, fetchWatched, rangeResponse, withServer, workerConfig } from "./helpers.ts";

const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 1, 2, 3]);
const IEND = [0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82];

const config = workerConfig;

async function get(href: string, cfg: WorkerConfig, sha256?: string, resume?: boolean) {
  const job = { id: 1, href, path: "x.png", ...(sha256 ? { sha256 } : {}), resume: !!resume };
  return await fetchWatched(job, cfg);
}

async function entries(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

Deno.test("partPath keeps the temporary file beside the final one, hidden, unique to its writer", () => {
  assert.match(partPath("a.png"), /^\.a\.png\.[0-9a-f]{16}\.part$/);
  assert.match(partPath("12/a.png"), /^12\/\.a\.png\.[0-9a-f]{16}\.part$/);
  assert.notEqual(partPath("a.png"), partPath("a.png"));
});

Deno.test("a redirect is followed, and the file keeps the requested name", async () => {
  await withServer((req) => {
    const url = new URL(req.url);
    if (url.pathname === "/x.png") {
      return Response.redirect(new URL("/elsewhere/y.png", req.url), 302);
    }
    return new Response(PNG);
  }, async (base, out) => {
    const outcome = await get(`${base}/x.png`, config(out));
    assert.equal(outcome.ok, true, outcome.error);
    assert.deepEqual(await Deno.readFile(`${out}/x.png`), PNG);
    assert.deepEqual(await entries(out), ["x.png"]);
  });
});

Deno.test("redirects to file: and redirect loops fail with their own errors", async () => {
  await withServer((req) => {
    const url = new URL(req.url);
    if (url.pathname === "/file") {
      return new Response(null, { status: 302, headers: { location: "file:///etc/passwd" } });
    }
    return new Response(null, { status: 302, headers: { location: url.pathname } });
  }, async (base, out) => {
    const file = await get(`${base}/file`, config(out));
    assert.equal(file.reason, "redirect");
    assert.match(file.error!, /file: URL/);
    const loop = await get(`${base}/loop`, config(out));
    assert.equal(loop.reason, "redirect");
    assert.match(loop.error!, /more than 3 redirects/);
    assert.deepEqual(await entries(out), []);
  });
});

Deno.test("an HTML page served as 200 is not saved as an image", async () => {
  await withServer(
    () =>
      new Response("<!DOCTYPE html><html><body>Sorry, not found</body></html>", {
        headers: { "content-type": "image/png" },
      }),
    async (base, out) => {
      const outcome = await get(`${base}/x.png`, config(out));
      assert.equal(outcome.ok, false);
      assert.equal(outcome.reason, "not-image");
      assert.match(outcome.error!, /HTML page/);
      assert.deepEqual(await entries(out), []);
      const kept = await get(`${base}/x.png`, config(out, { anyType: true }));
      assert.equal(kept.ok, true);
      assert.match(await Deno.readTextFile(`${out}/x.png`), /Sorry/);
    },
  );
});

Deno.test("a body over maxBytes is refused, by its header or as it arrives", async () => {
  await withServer((req) => {
    const big = new Uint8Array(3000);
    big.set(PNG);
    if (new URL(req.url).pathname === "/declared") return new Response(big);
    // No Content-Length: a stream.
    return new Response(ReadableStream.from([big.subarray(0, 1500), big.subarray(1500)]));
  }, async (base, out) => {
    const declared = await get(`${base}/declared`, config(out, { maxBytes: 2000 }));
    assert.equal(declared.reason, "too-large");
    assert.match(declared.error!, /over the 2\.0 KiB limit/);
    const streamed = await get(`${base}/streamed`, config(out, { maxBytes: 2000 }));
    assert.equal(streamed.reason, "too-large");
    assert.deepEqual(await entries(out), []);
  });
});

Deno.test("a gzip bomb is stopped on the decoded bytes", async () => {
  // 64 MiB of zeros after a PNG signature, gzipped to a few tens of KiB.
  const zeros = new Uint8Array(64 * 1024 * 1024);
  zeros.set(PNG);
  const bomb = new Uint8Array(
    await new Response(new Blob([zeros]).stream().pipeThrough(new CompressionStream("gzip")))
      .arrayBuffer(),
  );
  assert.ok(bomb.byteLength < 1024 * 1024);
  await withServer(
    () =>
      new Response(bomb, { headers: { "content-encoding": "gzip", "content-type": "image/png" } }),
    async (base, out) => {
      const outcome = await get(`${base}/bomb.png`, config(out, { maxBytes: 4 * 1024 * 1024 }));
      assert.equal(outcome.reason, "too-large");
      assert.match(outcome.error!, /gzip/);
      assert.deepEqual(await entries(out), []);
    },
  );
});

Deno.test("a stalled body times out on the idle limit and leaves nothing behind", async () => {
  let cancel: (() => void) | undefined;
  await withServer(() => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(PNG);
        cancel = () => controller.close();
      },
    });
    return new Response(body);
  }, async (base, out) => {
    const started = performance.now();
    const outcome = await get(`${base}/stall.png`, config(out, { idleTimeout: 200 }));
    cancel?.();
    assert.equal(outcome.reason, "timeout");
    assert.match(outcome.error!, /no data for 0\.2 s/);
    assert.ok(performance.now() - started < 3000);
    assert.deepEqual(await entries(out), []);
  });
});

Deno.test("a stalled body of known length times out too, read in one piece or streamed", async () => {
  const cancels: (() => void)[] = [];
  await withServer((req) => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(PNG);
        cancels.push(() => {
          try {
            controller.close();
          } catch {
            // Already cancelled: the client hung up.
          }
        });
      },
    });
    // 1,000 bytes takes the in-memory path; 5 MiB the streaming one.
    const length = new URL(req.url).pathname === "/small.png" ? "1000" : String(5 * 1024 * 1024);
    return new Response(body, { headers: { "content-length": length } });
  }, async (base, out) => {
    for (const name of ["small.png", "large.png"]) {
      const started = performance.now();
      const outcome = await get(
        `${base}/${name}`,
        config(out, { idleTimeout: 200, maxBytes: 8 * 1024 * 1024 }),
      );
      assert.equal(outcome.reason, "timeout", `${name}: ${outcome.error}`);
      // Read in one go, the small body must come whole in the idle limit; streamed, a byte must.
      assert.match(
        outcome.error!,
        name === "small.png" ? /did not come whole within 0\.2 s/ : /no data for 0\.2 s/,
      );
      assert.ok(performance.now() - started < 3000, name);
      assert.deepEqual(await entries(out), [], name);
    }
    for (const cancel of cancels) cancel();
  });
});

Deno.test("a server that never answers times out on the headers limit", async () => {
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => release = resolve);
  await withServer(async () => {
    await gate;
    return new Response(PNG);
  }, async (base, out) => {
    const outcome = await get(`${base}/slow.png`, config(out, { headersTimeout: 200 }));
    release();
    assert.equal(outcome.reason, "timeout");
    assert.match(outcome.error!, /no response within 0\.2 s/);
  });
});

Deno.test("a SHA-256 mismatch fails, a match saves", async () => {
  await withServer(() => new Response(PNG), async (base, out) => {
    const digest = Array.from(
      new Uint8Array(await crypto.subtle.digest("SHA-256", PNG)),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    const good = await get(`${base}/x.png`, config(out), digest);
    assert.equal(good.ok, true);
    assert.equal(good.sha256, digest);
    await Deno.remove(`${out}/x.png`);
    const bad = await get(`${base}/x.png`, config(out), "0".repeat(64));
    assert.equal(bad.reason, "checksum");
    assert.deepEqual(await entries(out), []);
  });
});

Deno.test("without digest, a file is hashed only to check an expected SHA-256", async () => {
  const digest = Array.from(
    new Uint8Array(await crypto.subtle.digest("SHA-256", PNG)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  await withServer(() => new Response(PNG), async (base, out) => {
    const cfg = config(out, { digest: false });
    const plain = await get(`${base}/a.png`, cfg);
    assert.equal(plain.ok, true, plain.error);
    assert.equal(plain.sha256, undefined, "no digest was asked for");
    const wrong = await get(`${base}/b.png`, cfg, "0".repeat(64));
    assert.equal(wrong.reason, "checksum");
    const right = await get(`${base}/c.png`, cfg, digest);
    assert.equal(right.ok, true, right.error);
    assert.equal(right.sha256, digest);
  });
});

Deno.test("an HTTP error carries its status and Retry-After", async () => {
  await withServer(
    () => new Response("busy", { status: 429, headers: { "retry-after": "7" } }),
    async (base, out) => {
      const outcome = await get(`${base}/x.png`, config(out));
      assert.equal(outcome.status, 429);
      assert.equal(outcome.reason, "http");
      assert.equal(outcome.retryAfter, 7000);
    },
  );
});

Deno.test("bodies on each side of the stream buffer's size arrive byte for byte: with a length, chunked, gzipped", async () => {
  const KiB = 1024;
  const B = STREAM_BUFFER;
  const sizes = [100, B - 1, B, B + 1, 3 * B + 17, 1024 * KiB + 5];
  const bodies = new Map<number, Uint8Array<ArrayBuffer>>();
  for (const size of sizes) {
    const body = new Uint8Array(size);
    for (let i = 0; i < size; i += 65536) {
      crypto.getRandomValues(body.subarray(i, Math.min(size, i + 65536)));
    }
    body.set(PNG.subarray(0, 8));
    // A whole PNG ends with its IEND chunk: a body of unknown length is checked for it.
    body.set(IEND, size - IEND.length);
    bodies.set(size, body);
  }
  await withServer((req) => {
    const url = new URL(req.url);
    const body = bodies.get(Number(url.searchParams.get("size")))!;
    if (url.searchParams.has("length")) return new Response(body);
    if (url.searchParams.has("gzip")) {
      const gzipped = new Response(body).body!.pipeThrough(new CompressionStream("gzip"));
      return new Response(gzipped, { headers: { "content-encoding": "gzip" } });
    }
    // No Content-Length: chunked, in pieces that never line up with the client's buffer.
    let at = 0;
    return new Response(
      new ReadableStream<Uint8Array>({
        pull(controller) {
          if (at >= body.byteLength) return controller.close();
          controller.enqueue(body.slice(at, at + 7919));
          at += 7919;
        },
      }),
    );
  }, async (base, out) => {
    for (const size of sizes) {
      for (const mode of ["length", "chunked", "gzip"]) {
        const body = bodies.get(size)!;
        const outcome = await get(
          `${base}/x.png?size=${size}&${mode}`,
          config(out, { maxBytes: 8 * 1024 * KiB }),
        );
        const what = `${size} bytes, ${mode}`;
        assert.equal(outcome.ok, true, `${what}: ${outcome.error}`);
        assert.equal(outcome.bytes, size, what);
        assert.deepEqual(await Deno.readFile(`${out}/x.png`), body, what);
        const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", body));
        assert.equal(
          outcome.sha256,
          Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join(""),
          what,
        );
        assert.deepEqual(
          await entries(out),
          ["x.png"],
          `${what}: no temporary file or note is left`,
        );
        await Deno.remove(`${out}/x.png`);
      }
    }
  });
});

Deno.test("a resumed download that gets the whole body again drops the old partial file and its note", async () => {
  await withServer((req) => {
    // This server ignores Range: a whole body, small and of known length, or an HTML page.
    return new URL(req.url).pathname === "/html.png"
      ? new Response("<!doctype html><p>moved</p>", { headers: { "content-type": "text/html" } })
      : new Response(PNG, { headers: { etag: '"v2"' } });
  }, async (base, out) => {
    const note = resumeNotePath(out, "x.png");
    const leave = async () => {
      const part = partPath("x.png");
      await Deno.writeFile(`${out}/${part}`, new Uint8Array(100));
      await Deno.mkdir(`${out}/.downpour-resume`, { recursive: true });
      const href = `${base}/x.png`;
      await Deno.writeTextFile(
        note,
        JSON.stringify({ path: "x.png", href, validator: '"v1"', etag: '"v1"', part }),
      );
    };
    await leave();
    const saved = await get(`${base}/x.png`, config(out), undefined, true);
    assert.equal(saved.ok, true, saved.error);
    assert.deepEqual(await Deno.readFile(`${out}/x.png`), PNG);
    assert.deepEqual(await entries(`${out}/.downpour-resume`), [], "the note is gone");
    await Deno.remove(`${out}/x.png`);

    await leave();
    const refused = await get(`${base}/html.png`, config(out), undefined, true);
    assert.equal(refused.reason, "not-image");
    assert.deepEqual(await entries(out), [".downpour-resume"], "the old partial file is gone");
    assert.deepEqual(await entries(`${out}/.downpour-resume`), [], "and its note");
  });
});

Deno.test("an interrupted large body resumes with Range and If-Range", async () => {
  const full = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 31) & 0xff);
  full.set(PNG);
  const cut = 2 * 1024 * 1024;
  const ranges: (string | null)[] = [];
  await withServer((req) => {
    const range = req.headers.get("range");
    ranges.push(range && `${range} if-range=${req.headers.get("if-range")}`);
    if (range) {
      const start = Number(/bytes=(\d+)-/.exec(range)![1]);
      return rangeResponse(full, start, '"v1"');
    }
    return new Response(cutBody(full, cut), {
      headers: { etag: '"v1"', "content-length": String(full.length) },
    });
  }, async (base, out) => {
    const first = await get(`${base}/big.png`, config(out, { maxBytes: 10 * 1024 * 1024 }));
    assert.equal(first.ok, false);
    assert.equal(first.reason, "network");
    assert.equal(first.partial, true);
    const kept = await entries(out);
    assert.equal(kept.length, 2, String(kept));
    assert.equal(kept[0], ".downpour-resume");
    assert.match(kept[1]!, /^\.x\.png\.[0-9a-f]{16}\.part$/, "kept, hidden");
    assert.deepEqual(await entries(`${out}/.downpour-resume`), [`${stableHash("x.png")}.json`]);
    const big = config(out, { maxBytes: 10 * 1024 * 1024 });
    const second = await get(`${base}/big.png`, big, undefined, true);
    assert.equal(second.ok, true, second.error);
    assert.equal(second.bytes, full.length);
    assert.match(ranges[1]!, /^bytes=\d+- if-range="v1"$/);
    assert.deepEqual(await Deno.readFile(`${out}/x.png`), full);
    assert.deepEqual(await entries(out), [".downpour-resume", "x.png"]);
    assert.deepEqual(await entries(`${out}/.downpour-resume`), []);
    const digest = Array.from(
      new Uint8Array(await crypto.subtle.digest("SHA-256", full)),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    assert.equal(second.sha256, digest, "the digest covers the resumed bytes too");
  });
});
