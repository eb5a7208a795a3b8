import assert from "node:assert/strict";
import { stableHash } from "../src/hash.ts";
import { NameAllocator } from "../src/name_table.ts";
import { baseName, sanitizeName } from "../src/naming.ts";

const encoder = new TextEncoder();

function bytes(text: string): number {
  return encoder.encode(text).length;
}

/** Whether `text` is well-formed UTF-16 (no lone surrogate). */
function wellFormed(text: string): boolean {
  return new TextDecoder().decode(encoder.encode(text)) === text;
}

/** Reference FNV-1a 64 over UTF-8, with BigInt: independent of the implementation under test. */
function fnv1a64(text: string): string {
  let hash = 0xcbf29ce484222325n;
  for (const byte of encoder.encode(text)) {
    hash ^= BigInt(byte);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash.toString(16).padStart(16, "0");
}

/** What every name must be, whatever went in. */
function assertSafe(name: string): void {
  assert.ok(name.length > 0, "empty name");
  // deno-lint-ignore no-control-regex
  assert.ok(!/[\/\\<>:"|?*\x00-\x1f\x7f-\x9f]/.test(name), `unsafe character in ${name}`);
  assert.ok(!name.startsWith("."), `starts with a dot: ${name}`);
  assert.ok(!name.startsWith(" "), `starts with a space: ${name}`);
  assert.ok(!/[. ]$/.test(name), `ends with a dot or space: ${name}`);
  assert.ok(bytes(name) <= 200, `longer than 200 bytes: ${name}`);
  assert.ok(wellFormed(name), `lone surrogate in ${JSON.stringify(name)}`);
  assert.equal(name, name.normalize("NFC"));
}

Deno.test("baseName() takes the last non-empty path segment, decoded", () => {
  assert.equal(baseName(new URL("https://h.example/a/b/cat.png")), "cat.png");
  assert.equal(baseName(new URL("https://h.example/a/b/")), "b");
  assert.equal(baseName(new URL("https://h.example/a//b//")), "b");
  assert.equal(baseName(new URL("https://h.example/")), "index");
  assert.equal(baseName(new URL("https://h.example")), "index");
  assert.equal(baseName(new URL("https://h.example/x.png?v=2#top")), "x.png");
  assert.equal(baseName(new URL("https://h.example/tabby%20cat.png")), "tabby cat.png");
  assert.equal(baseName(new URL("https://h.example/%E6%97%A5%E6%9C%AC.jpg")), "日本.jpg");
  assert.equal(baseName(new URL("https://h.example/日本.jpg")), "日本.jpg");
});

Deno.test("baseName() keeps malformed escapes and never throws", () => {
  assert.equal(baseName(new URL("https://h.example/100%25.png")), "100%.png");
  assert.equal(baseName(new URL("https://h.example/%zz%41.png")), "%zzA.png");
  assert.equal(baseName(new URL("https://h.example/50%.png")), "50%.png");
  assert.equal(baseName(new URL("https://h.example/%ff.png")), "\ufffd.png");
  assert.equal(baseName(new URL("https://h.example/a%e6%97.png%")), "a\ufffd.png%");
});

Deno.test("baseName() does not let a name climb out of the directory", () => {
  const cases = [
    "https://h.example/..%2f..%2fetc%2fpasswd",
    "https://h.example/..%2F..%2Fetc%2Fpasswd",
    "https://h.example/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "https://h.example/x/%2e%2e",
    "https://h.example/x/%2E%2E/",
    "https://h.example/x/..%5c..%5cwin.ini",
    "https://h.example/%2e",
    "https://h.example/.htaccess",
    "https://h.example/%00",
  ];
  for (const href of cases) {
    const name = baseName(new URL(href));
    assertSafe(name);
    assert.notEqual(name, "..");
  }
  assert.equal(baseName(new URL("https://h.example/..%2f..%2fetc%2fpasswd")), "_.._etc_passwd");
  assert.equal(baseName(new URL("https://h.example/x/..%5c..%5cwin.ini")), "_.._win.ini");
  assert.equal(baseName(new URL("https://h.example/x/%2e%2e")), "index");
  assert.equal(baseName(new URL("https://h.example/.htaccess")), "htaccess");
  assert.equal(baseName(new URL("https://h.example/%00")), "file");
});

Deno.test("baseName() refuses what is not a URL", () => {
  assert.throws(() => baseName("https://h.example/x.png" as unknown as URL), TypeError);
});

Deno.test("sanitizeName() replaces separators and characters reserved on Windows", () => {
  assert.equal(sanitizeName('a<b>c:d"e|f?g*h.png'), "a_b_c_d_e_f_g_h.png");
  assert.equal(sanitizeName("a/b\\c.png"), "a_b_c.png");
  assert.equal(sanitizeName("../../etc/passwd"), "_.._etc_passwd");
});

Deno.test("sanitizeName() removes control characters", () => {
  assert.equal(sanitizeName("a\u0000b\u0001c\u001fd\u007fe\u0080f\u009fg.png"), "abcdefg.png");
  assert.equal(sanitizeName("line\r\nbreak\t.png"), "linebreak.png");
  assert.equal(sanitizeName("cat\u202egnp.exe"), "catgnp.exe");
  assert.equal(sanitizeName("\u0000"), "file");
});

Deno.test("sanitizeName() strips leading and trailing dots and spaces", () => {
  assert.equal(sanitizeName(".hidden"), "hidden");
  assert.equal(sanitizeName(" . .x.png. . "), "x.png");
  assert.equal(sanitizeName("."), "file");
  assert.equal(sanitizeName(".."), "file");
  assert.equal(sanitizeName(" "), "file");
  assert.equal(sanitizeName(""), "file");
  assert.equal(sanitizeName("a . b"), "a . b");
});

Deno.test("sanitizeName() prefixes Windows device names", () => {
  for (const name of ["CON", "con", "Prn", "aux", "NUL", "com1", "COM9", "lpt1", "LPT9"]) {
    assert.equal(sanitizeName(name), "_" + name);
    assert.equal(sanitizeName(name + ".txt"), `_${name}.txt`);
    assert.equal(sanitizeName(name + ".tar.gz"), `_${name}.tar.gz`);
  }
  assert.equal(sanitizeName("con .txt"), "_con .txt");
  assert.equal(sanitizeName("COM¹.png"), "_COM¹.png");
  assert.equal(sanitizeName("CONIN$"), "_CONIN$");
  // Windows drops the spaces before the extension, however many.
  assert.equal(sanitizeName("CON      .txt"), "_CON      .txt");
  assert.equal(sanitizeName("CONOUT$   .png"), "_CONOUT$   .png");
  // The prefix still fits in 200 bytes.
  const device = sanitizeName("con." + "x".repeat(194) + " y");
  assert.equal(device, "_con." + "x".repeat(194));

  for (const name of ["CONSOLE.txt", "com0", "com10.png", "lpt", "nul_.png", "icon.png", "aux-1"]) {
    assert.equal(sanitizeName(name), name);
  }
});

Deno.test("sanitizeName() normalizes Unicode to NFC", () => {
  assert.equal(sanitizeName("e\u0301te\u0301.png"), "\u00e9t\u00e9.png");
  assert.equal(sanitizeName("\u00e9t\u00e9.png"), "\u00e9t\u00e9.png");
  assert.equal(sanitizeName("\u212b.png"), "\u00c5.png");
  assert.equal(sanitizeName("\u{1d15e}.png"), "\u{1d157}\u{1d165}.png");
  // Removing a control character must not leave the name denormalized.
  assert.equal(sanitizeName("e\u0000\u0301.png"), "\u00e9.png");
});

Deno.test("sanitizeName() replaces lone surrogates", () => {
  assert.equal(sanitizeName("a\ud800b.png"), "a\ufffdb.png");
  assert.equal(sanitizeName("a\udc00.png"), "a\ufffd.png");
  assert.equal(sanitizeName("😀.png"), "😀.png");
});

Deno.test("sanitizeName() cuts long names to 200 UTF-8 bytes, keeping the extension", () => {
  const ascii = sanitizeName("a".repeat(300) + ".png");
  assert.equal(bytes(ascii), 200);
  assert.equal(ascii, "a".repeat(196) + ".png");

  // 2-byte characters: 199 bytes is the most that fits without cutting one.
  const accented = sanitizeName("é".repeat(150) + ".jpg");
  assert.ok(accented.endsWith(".jpg"));
  assert.equal(accented, "é".repeat(98) + ".jpg");
  assert.equal(bytes(accented), 200);

  // 3-byte characters, and 4-byte ones (surrogate pairs) that must not be split.
  const cjk = sanitizeName("日".repeat(100) + ".webp");
  assert.equal(cjk, "日".repeat(65) + ".webp");
  const emoji = sanitizeName("😀".repeat(100) + ".gif");
  assert.equal(emoji, "😀".repeat(49) + ".gif");
  assert.ok(wellFormed(emoji));
  const odd = sanitizeName("x" + "😀".repeat(100));
  assert.equal(odd, "x" + "😀".repeat(49));

  // An extension longer than 16 bytes is not kept apart.
  const longExt = sanitizeName("a".repeat(300) + "." + "b".repeat(20));
  assert.equal(longExt, "a".repeat(200));

  // A cut that would end in a dot or a space loses them.
  assert.equal(sanitizeName("a".repeat(199) + " " + "b".repeat(30)), "a".repeat(199));
  assert.equal(sanitizeName("a".repeat(198) + ".." + "b".repeat(30)), "a".repeat(198));

  for (const name of [ascii, accented, cjk, emoji, odd, longExt]) assertSafe(name);
});

Deno.test("sanitizeName() keeps names safe whatever comes in", () => {
  const pieces = [
    ".",
    " ",
    "/",
    "\\",
    "\u0000",
    "é",
    "e",
    "\u0301",
    "😀",
    "\ud800",
    "\u202e",
    "CON",
    "a",
    ":",
  ];
  let seed = 42;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let i = 0; i < 2000; i++) {
    let text = "";
    const length = Math.floor(random() * 120);
    for (let j = 0; j < length; j++) text += pieces[Math.floor(random() * pieces.length)];
    const name = sanitizeName(text);
    assertSafe(name);
    assert.equal(sanitizeName(name), name, `not idempotent for ${JSON.stringify(text)}`);
  }
});

Deno.test("sanitizeName() refuses what is not a string", () => {
  assert.throws(() => sanitizeName(undefined as unknown as string), TypeError);
});

Deno.test("stableHash() is FNV-1a 64 over UTF-8", () => {
  assert.equal(stableHash(""), "cbf29ce484222325");
  assert.equal(stableHash("a"), "af63dc4c8601ec8c");
  assert.equal(stableHash("foobar"), "85944171f73967e8");
  const texts = [
    "https://example.com/cat.png",
    "é",
    "日本語",
    "😀",
    "a\ud800b",
    "\udc00",
    "\u0000",
  ];
  for (const text of texts) assert.equal(stableHash(text), fnv1a64(text), JSON.stringify(text));
  assert.throws(() => stableHash(1 as unknown as string), TypeError);
});

Deno.test("NameAllocator gives the base name first, then hashed suffixes", () => {
  const names = new NameAllocator();
  const a = new URL("https://h.example/a/x.png");
  const b = new URL("https://h.example/b/x.png");
  const v2 = new URL("https://h.example/a/x.png?v=2");
  assert.deepEqual(names.allocate(a), { name: "x.png", duplicate: false });
  assert.deepEqual(names.allocate(b), {
    name: `x-${stableHash(b.href).slice(0, 8)}.png`,
    duplicate: false,
  });
  assert.deepEqual(names.allocate(v2), {
    name: `x-${stableHash(v2.href).slice(0, 8)}.png`,
    duplicate: false,
  });
  assert.equal(names.size, 3);
});

Deno.test("NameAllocator compares names case-insensitively, after NFC", () => {
  const names = new NameAllocator();
  assert.equal(names.allocate(new URL("https://h.example/X.png")).name, "X.png");
  const lower = new URL("https://h.example/x.png");
  assert.equal(names.allocate(lower).name, `x-${stableHash(lower.href).slice(0, 8)}.png`);
  const upper = new URL("https://h.example/X.PNG");
  assert.equal(names.allocate(upper).name, `X-${stableHash(upper.href).slice(0, 8)}.PNG`);

  assert.equal(names.allocate(new URL("https://h.example/%C3%A9.png")).name, "é.png");
  const decomposed = new URL("https://h.example/e%CC%81.png");
  assert.equal(names.allocate(decomposed).name, `é-${stableHash(decomposed.href).slice(0, 8)}.png`);
  const capital = new URL("https://h.example/%C3%89.png");
  assert.equal(names.allocate(capital).name, `É-${stableHash(capital.href).slice(0, 8)}.png`);
});

Deno.test("NameAllocator gives a repeated URL its first name, as a duplicate", () => {
  const names = new NameAllocator();
  const first = new URL("https://h.example/a/x.png");
  const second = new URL("https://h.example/b/x.png");
  const one = names.allocate(first);
  const two = names.allocate(second);
  assert.deepEqual(names.allocate(new URL(first.href)), { name: one.name, duplicate: true });
  assert.deepEqual(names.allocate(new URL(second.href)), { name: two.name, duplicate: true });
  assert.equal(names.size, 2);
});

Deno.test("NameAllocator uses a preferred name, sanitized", () => {
  const names = new NameAllocator();
  const url = new URL("https://h.example/a/x.png");
  assert.deepEqual(names.allocate(url, "../My Cat.png"), { name: "_My Cat.png", duplicate: false });
  // The same URL under another wanted name is another download.
  assert.deepEqual(names.allocate(url, "other.png"), { name: "other.png", duplicate: false });
  assert.deepEqual(names.allocate(url), { name: "x.png", duplicate: false });
  assert.deepEqual(names.allocate(url, "other.png"), { name: "other.png", duplicate: true });
  // A wanted name equal to the URL's own is the same download.
  assert.deepEqual(names.allocate(url, "x.png"), { name: "x.png", duplicate: true });
  // An empty preferred name counts as none.
  assert.deepEqual(names.allocate(url, ""), { name: "x.png", duplicate: true });
  // A preferred name that is taken gets a suffix.
  const other = new URL("https://h.example/b/y.png");
  assert.equal(
    names.allocate(other, "OTHER.png").name,
    `OTHER-${stableHash(other.href).slice(0, 8)}.png`,
  );
  assert.throws(() => names.allocate(url, 5 as unknown as string), TypeError);
  assert.throws(() => names.allocate("https://h.example/" as unknown as URL), TypeError);
});

Deno.test("NameAllocator avoids names other URLs took, in any case", () => {
  const names = new NameAllocator();
  const other = (n: number, name: string) =>
    names.allocate(new URL(`https://other.example/${n}`), name).name;
  assert.equal(other(0, "Cat.png"), "Cat.png");
  assert.equal(names.size, 1);
  const url = new URL("https://h.example/cat.png");
  assert.equal(names.allocate(url).name, `cat-${stableHash(url.href).slice(0, 8)}.png`);
  assert.equal(names.size, 2);
});

Deno.test("NameAllocator lengthens the suffix, then counts, when suffixed names are taken", () => {
  const url = new URL("https://h.example/b/x.png");
  const hash = stableHash(url.href);
  const names = new NameAllocator();
  const take = (into: NameAllocator, name: string) =>
    assert.equal(into.allocate(new URL(`https://other.example/${name}`), name).name, name);
  take(names, "x.png");
  take(names, `x-${hash.slice(0, 8)}.png`);
  assert.equal(names.allocate(url).name, `x-${hash}.png`);

  const again = new NameAllocator();
  take(again, "x.png");
  take(again, `x-${hash.slice(0, 8)}.png`);
  take(again, `x-${hash}.png`);
  for (let n = 2; n <= 300; n++) take(again, `x-${hash}-${n}.png`);
  assert.equal(again.allocate(url).name, `x-${hash}-301.png`);
  assert.deepEqual(again.allocate(url), { name: `x-${hash}-301.png`, duplicate: true });
});

Deno.test("NameAllocator keeps suffixed long names within 200 bytes", () => {
  const names = new NameAllocator();
  const segment = "é".repeat(150) + ".jpeg";
  const first = names.allocate(new URL(`https://a.example/${segment}`)).name;
  const second = names.allocate(new URL(`https://b.example/${segment}`)).name;
  assert.notEqual(first.toLowerCase(), second.toLowerCase());
  for (const name of [first, second]) {
    assertSafe(name);
    assert.ok(name.endsWith(".jpeg"));
  }
  assert.match(second, /^é+-[0-9a-f]{8}\.jpeg$/);
});

Deno.test("NameAllocator is deterministic and collision-free over many URLs", () => {
  const urls: URL[] = [];
  for (let i = 0; i < 30_000; i++) {
    // Few base names, many URLs: most allocations collide.
    urls.push(new URL(`https://h${i % 7}.example/${i % 13}/IMG_${i % 100}.JPG?i=${i}`));
  }
  const run = () => {
    const names = new NameAllocator();
    return urls.map((url) => names.allocate(url).name);
  };
  const first = run();
  const second = run();
  assert.deepEqual(second, first);
  assert.equal(new Set(first.map((name) => name.toLowerCase())).size, urls.length);
  for (const name of first.slice(0, 200)) assertSafe(name);

  // Each URL again: all duplicates, with the same names.
  const names = new NameAllocator();
  for (const url of urls) names.allocate(url);
  assert.equal(names.size, urls.length);
  for (let i = 0; i < urls.length; i += 97) {
    assert.deepEqual(names.allocate(urls[i]), { name: first[i], duplicate: true });
  }
  assert.equal(names.size, urls.length);
});
