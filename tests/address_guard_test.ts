import assert from "node:assert/strict";
import { checkPublic, isPrivateAddress, privateRange } from "../src/address_guard.ts";

Deno.test("IPv4: every special range is private, with its name", () => {
  const cases: [string, string][] = [
    ["0.0.0.0", "unspecified"],
    ["0.255.255.255", "unspecified"],
    ["10.0.0.0", "private"],
    ["10.255.255.255", "private"],
    ["100.64.0.0", "carrier-grade NAT"],
    ["100.127.255.255", "carrier-grade NAT"],
    ["127.0.0.1", "loopback"],
    ["127.255.255.254", "loopback"],
    ["169.254.169.254", "link-local"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.0.0.8", "IETF protocol assignments"],
    ["192.0.2.1", "documentation"],
    ["192.88.99.1", "6to4 relay anycast"],
    ["192.168.0.1", "private"],
    ["192.168.255.255", "private"],
    ["198.18.0.1", "benchmarking"],
    ["198.19.255.255", "benchmarking"],
    ["198.51.100.7", "documentation"],
    ["203.0.113.9", "documentation"],
    ["224.0.0.1", "multicast"],
    ["239.255.255.250", "multicast"],
    ["240.0.0.1", "reserved"],
    ["255.255.255.254", "reserved"],
    ["255.255.255.255", "broadcast"],
  ];
  for (const [ip, name] of cases) {
    assert.equal(privateRange(ip), name, ip);
    assert.equal(isPrivateAddress(ip), true, ip);
  }
});

Deno.test("IPv4: addresses just outside the ranges are public", () => {
  for (
    const ip of [
      "1.1.1.1",
      "8.8.8.8",
      "9.255.255.255",
      "11.0.0.0",
      "93.184.216.34",
      "100.63.255.255",
      "100.128.0.0",
      "126.255.255.255",
      "128.0.0.0",
      "169.253.255.255",
      "169.255.0.0",
      "172.15.255.255",
      "172.32.0.0",
      "192.0.1.0",
      "192.167.255.255",
      "192.169.0.0",
      "198.17.255.255",
      "198.20.0.0",
      "223.255.255.255",
    ]
  ) {
    assert.equal(privateRange(ip), undefined, ip);
    assert.equal(isPrivateAddress(ip), false, ip);
  }
});

Deno.test("IPv6: special ranges are private, with their names", () => {
  const cases: [string, string][] = [
    ["::", "unspecified"],
    ["0:0:0:0:0:0:0:0", "unspecified"],
    ["::1", "loopback"],
    ["0000:0000:0000:0000:0000:0000:0000:0001", "loopback"],
    ["[::1]", "loopback"],
    ["fc00::1", "unique-local"],
    ["fd12:3456:789a::1", "unique-local"],
    ["fe80::1", "link-local"],
    ["fe80::1%eth0", "link-local"],
    ["[fe80::abcd%25en0]", "link-local"],
    ["febf:ffff::1", "link-local"],
    ["fec0::1", "site-local"],
    ["ff02::1", "multicast"],
    ["FF05::1:3", "multicast"],
    ["2001:db8::1", "documentation"],
    ["3fff:0fff::1", "documentation"],
    ["2001::1", "Teredo"],
    ["2001:2::1", "benchmarking"],
    ["100::1", "discard-only"],
    ["64:ff9b:1::1", "local-use NAT64"],
    ["::7f00:1", "reserved"], // deprecated IPv4-compatible ::127.0.0.1
    ["::8.8.8.8", "reserved"],
    ["4000::1", "reserved"],
  ];
  for (const [ip, name] of cases) {
    assert.equal(privateRange(ip), name, ip);
    assert.equal(isPrivateAddress(ip), true, ip);
  }
});

Deno.test("IPv6: addresses carrying IPv4 are judged by the IPv4 address", () => {
  const cases: [string, string | undefined][] = [
    ["::ffff:127.0.0.1", "IPv4-mapped loopback"],
    ["::ffff:7f00:1", "IPv4-mapped loopback"],
    ["::FFFF:10.0.0.1", "IPv4-mapped private"],
    ["0:0:0:0:0:ffff:169.254.169.254", "IPv4-mapped link-local"],
    ["[::ffff:192.168.1.1]", "IPv4-mapped private"],
    ["::ffff:0.0.0.0", "IPv4-mapped unspecified"],
    ["::ffff:8.8.8.8", undefined],
    ["::ffff:0:127.0.0.1", "IPv4-translated loopback"],
    ["64:ff9b::127.0.0.1", "NAT64 loopback"],
    ["64:ff9b::a00:1", "NAT64 private"],
    ["64:ff9b::93.184.216.34", undefined],
    ["2002:7f00:1::1", "6to4 loopback"],
    ["2002:c0a8:101::", "6to4 private"],
    ["2002:5db8:d822::1", undefined], // 6to4 of 93.184.216.34
  ];
  for (const [ip, name] of cases) {
    assert.equal(privateRange(ip), name, ip);
    assert.equal(isPrivateAddress(ip), name !== undefined, ip);
  }
});

Deno.test("IPv6: public addresses", () => {
  for (
    const ip of [
      "2606:2800:220:1:248:1893:25c8:1946",
      "2a00:1450:4001:82a::200e",
      "2001:4860:4860::8888",
      "[2001:4860:4860::8844]",
      "2620:fe::fe",
    ]
  ) {
    assert.equal(privateRange(ip), undefined, ip);
  }
});

Deno.test("not an IP address: a TypeError", () => {
  for (
    const text of [
      "",
      "localhost",
      "example.com",
      "1.2.3",
      "1.2.3.4.5",
      "256.1.1.1",
      "01.2.3.4",
      "1.2.3.-4",
      "0x7f.0.0.1",
      ":::",
      "1::2::3",
      "12345::1",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      "::ffff:1.2.3",
      "g::1",
      "1:2:3:4:5:6:7::8",
    ]
  ) {
    assert.throws(() => privateRange(text), {
      name: "TypeError",
      message: /is not an IP address/,
    }, text);
  }
  assert.throws(() => isPrivateAddress(7 as unknown as string), TypeError);
});

/** A resolver that must not be asked. */
const never = (host: string): Promise<string[]> => {
  throw new Error(`asked DNS about ${host}`);
};

Deno.test("checkPublic: IP literals are checked without DNS", async () => {
  assert.equal(
    await checkPublic(new URL("http://127.0.0.1:8080/cat.png"), never),
    "refused: 127.0.0.1 (loopback) is a private address (--deny-private)",
  );
  assert.equal(
    await checkPublic(new URL("http://[::1]/cat.png"), never),
    "refused: ::1 (loopback) is a private address (--deny-private)",
  );
  assert.equal(
    await checkPublic(new URL("http://[::ffff:169.254.169.254]/latest/meta-data"), never),
    "refused: ::ffff:a9fe:a9fe (IPv4-mapped link-local) is a private address (--deny-private)",
  );
  // The URL parser reads these as IPv4, in other notations.
  assert.match(String(await checkPublic(new URL("http://0x7f000001/"), never)), /127\.0\.0\.1/);
  assert.match(String(await checkPublic(new URL("http://2130706433/"), never)), /loopback/);
  assert.match(String(await checkPublic(new URL("http://0/"), never)), /unspecified/);
  assert.equal(await checkPublic(new URL("https://93.184.216.34/cat.png"), never), true);
  assert.equal(await checkPublic(new URL("https://[2606:2800:220:1::1]/"), never), true);
});

Deno.test("checkPublic: localhost and *.localhost are refused without DNS", async () => {
  for (const host of ["localhost", "LOCALHOST", "localhost.", "api.localhost", "a.b.localhost."]) {
    const verdict = await checkPublic(new URL(`http://${host}:8000/x.png`), never);
    assert.equal(typeof verdict, "string", host);
    assert.match(verdict as string, /^refused: .* is a loopback name \(--deny-private\)$/);
  }
});

Deno.test("checkPublic: a name is refused if any of its addresses is private", async () => {
  const asked: string[] = [];
  const resolve = (host: string) => {
    asked.push(host);
    return Promise.resolve(
      host === "mixed.example" ? ["93.184.216.34", "2606:2800:220:1::1", "10.1.2.3"] : [
        "93.184.216.34",
        "2606:2800:220:1:248:1893:25c8:1946",
      ],
    );
  };
  assert.equal(
    await checkPublic(new URL("https://mixed.example/cat.png"), resolve),
    "refused: mixed.example resolves to 10.1.2.3 (private), a private address (--deny-private)",
  );
  assert.equal(await checkPublic(new URL("https://example.com/cat.png"), resolve), true);
  assert.deepEqual(asked, ["mixed.example", "example.com"]);
  const mapped = () => Promise.resolve(["::ffff:127.0.0.1"]);
  assert.match(
    String(await checkPublic(new URL("https://sneaky.example/"), mapped)),
    /resolves to ::ffff:127\.0\.0\.1 \(IPv4-mapped loopback\)/,
  );
  // localhost spelled as a name that resolves to loopback, as DNS rebinding would.
  const rebind = () => Promise.resolve(["127.0.0.1"]);
  assert.match(String(await checkPublic(new URL("http://a.example/"), rebind)), /loopback/);
});

Deno.test("checkPublic: a name that cannot be resolved is refused", async () => {
  assert.equal(
    await checkPublic(new URL("https://nowhere.example/"), () => Promise.resolve([])),
    "refused: nowhere.example could not be resolved: no address (--deny-private)",
  );
  assert.equal(
    await checkPublic(
      new URL("https://broken.example/"),
      () => Promise.reject(new Deno.errors.NotFound("no A or AAAA record")),
    ),
    "refused: broken.example could not be resolved: no A or AAAA record (--deny-private)",
  );
  assert.match(
    String(await checkPublic(new URL("https://odd.example/"), () => Promise.resolve(["nope"]))),
    /^refused: odd\.example resolves to "nope", which is not an IP address/,
  );
});

Deno.test("checkPublic: a URL without a host is refused; a non-URL is a TypeError", async () => {
  assert.match(String(await checkPublic(new URL("file:///etc/passwd"), never)), /has no host/);
  await assert.rejects(() => checkPublic("http://x/" as unknown as URL, never), TypeError);
});
