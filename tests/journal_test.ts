/**
 * The journal file itself: records written by concurrent writers, and read back by the index.
 * Real files in a temporary directory.
 */

import assert from "node:assert/strict";
import { Journal, JOURNAL_NAME } from "../src/journal.ts";
import { JOURNAL_HEADER, JournalIndex, nameHash } from "../src/journal/index.ts";
import { hashHex } from "../src/hash.ts";
import { tempDir } from "./helpers.ts";

function saved(name: string) {
  return [
    { url: `http://a/${name}`, ok: true, path: name, bytes: 3, attempts: 1, ms: 1 },
    { name, path: name, href: `http://a/${name}` },
  ] as const;
}

Deno.test("a record cut by a writer killed mid-write does not swallow another writer's next record", async () => {
  await using dir = await tempDir("downpour-journal-");
  const journal = await Journal.open(dir.path);
  journal.record(...saved("a.png"));
  await journal.close();
  const live = await Journal.open(dir.path);
  // Another writer, killed in the middle of its write(), leaves a fragment with no newline.
  const h = nameHash("cut.png");
  await Deno.writeTextFile(
    `${dir.path}/${JOURNAL_NAME}`,
    `{"h":"${hashHex(h.hi, h.lo)}","ok":true,"url":"http://a/cu`,
    { append: true },
  );
  live.record(...saved("b.png"));
  await live.close();

  const again = await Journal.open(dir.path);
  try {
    for (const name of ["a.png", "b.png"]) {
      assert.equal(again.holder(name, nameHash(name).hi)?.entry.url, `http://a/${name}`, name);
    }
    assert.equal(again.holder("cut.png", nameHash("cut.png").hi), undefined);
  } finally {
    await again.close();
  }
});

Deno.test("the index reads back every record, in any order: short and long lines, v1 and v2", async () => {
  await using dir = await tempDir("downpour-journal-");
  const path = `${dir.path}/${JOURNAL_NAME}`;
  const names: string[] = [];
  const lines = [JOURNAL_HEADER];
  for (let i = 0; i < 3000; i++) {
    const name = `img${i}.jpg`;
    names.push(name);
    if (i % 500 === 7) lines.push(""); // an empty line, as a batch's leading newline leaves
    if (i % 700 === 3) {
      // A v1 record: no hash, the name from its path.
      lines.push(JSON.stringify({ url: `http://h/${i}/${name}`, ok: true, path: name, bytes: i }));
      continue;
    }
    const h = nameHash(name);
    // Some records are far longer than a read-back window (long errors of failures).
    const error = i % 97 === 0 ? "x".repeat(5000 + i * 30) : i % 13 === 0 ? "y".repeat(900) : "";
    lines.push(JSON.stringify({
      h: hashHex(h.hi, h.lo),
      ok: error === "",
      url: `http://h/${i}/${name}`,
      name,
      path: name,
      ...(error ? { error } : { bytes: i }),
    }));
  }
  await Deno.writeTextFile(path, lines.join("\n") + "\n");
  const index = JournalIndex.build(path)!;
  try {
    let seed = 7;
    const order = names.map((name, i) => ({ name, i, key: seed = (seed * 48271) % 2147483647 }));
    order.sort((a, b) => a.key - b.key);
    for (const pass of [order, order.slice().reverse(), order.slice().sort((a, b) => a.i - b.i)]) {
      for (const { name, i } of pass) {
        const held = index.holder(name, nameHash(name).hi);
        assert.equal(held?.entry.url, `http://h/${i}/${name}`, name);
        assert.equal(held?.entry.name, name);
      }
    }
    assert.equal(index.holder("absent.jpg", nameHash("absent.jpg").hi), undefined);
  } finally {
    index.close();
  }
});
