/**
 * A guard against server-side request forgery (`--deny-private`): refuse URLs whose host is,
 * or resolves to, an address that is not on the public internet, such as loopback, private
 * networks, link-local (cloud metadata at 169.254.169.254), multicast and their IPv6 forms.
 *
 * - {@linkcode privateRange} names the special range an IP address is in.
 * - {@linkcode isPrivateAddress} tells whether an IP address is in one.
 * - {@linkcode checkPublic} checks a URL's host, resolving names with DNS.
 *
 * @module
 */

/** An IPv4 range: the first address as an unsigned 32-bit integer, the prefix length, a name. */
type Range4 = readonly [base: number, bits: number, name: string];

/** Special-purpose IPv4 ranges (RFC 6890 and its updates); the first match names the address. */
const RANGES_4: readonly Range4[] = [
  [0x00000000, 8, "unspecified"], // 0.0.0.0/8, "this network"
  [0x0a000000, 8, "private"], // 10.0.0.0/8
  [0x64400000, 10, "carrier-grade NAT"], // 100.64.0.0/10
  [0x7f000000, 8, "loopback"], // 127.0.0.0/8
  [0xa9fe0000, 16, "link-local"], // 169.254.0.0/16
  [0xac100000, 12, "private"], // 172.16.0.0/12
  [0xc0000000, 24, "IETF protocol assignments"], // 192.0.0.0/24
  [0xc0000200, 24, "documentation"], // 192.0.2.0/24
  [0xc0586300, 24, "6to4 relay anycast"], // 192.88.99.0/24
  [0xc0a80000, 16, "private"], // 192.168.0.0/16
  [0xc6120000, 15, "benchmarking"], // 198.18.0.0/15
  [0xc6336400, 24, "documentation"], // 198.51.100.0/24
  [0xcb007100, 24, "documentation"], // 203.0.113.0/24
  [0xe0000000, 4, "multicast"], // 224.0.0.0/4
  [0xffffffff, 32, "broadcast"], // 255.255.255.255
  [0xf0000000, 4, "reserved"], // 240.0.0.0/4
];

/** An IPv6 range: the first address as eight 16-bit groups, the prefix length, a name. */
type Range6 = readonly [base: readonly number[], bits: number, name: string];

/** Special-purpose IPv6 ranges, after the ones that embed an IPv4 address. */
const RANGES_6: readonly Range6[] = [
  [[0, 0, 0, 0, 0, 0, 0, 0], 128, "unspecified"], // ::
  [[0, 0, 0, 0, 0, 0, 0, 1], 128, "loopback"], // ::1
  [[0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48, "local-use NAT64"], // 64:ff9b:1::/48
  [[0x100, 0, 0, 0, 0, 0, 0, 0], 64, "discard-only"], // 100::/64
  [[0x2001, 0, 0, 0, 0, 0, 0, 0], 32, "Teredo"], // 2001::/32
  [[0x2001, 2, 0, 0, 0, 0, 0, 0], 48, "benchmarking"], // 2001:2::/48
  [[0x2001, 0x10, 0, 0, 0, 0, 0, 0], 28, "ORCHID"], // 2001:10::/28
  [[0x2001, 0x20, 0, 0, 0, 0, 0, 0], 28, "ORCHID"], // 2001:20::/28
  [[0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, "documentation"], // 2001:db8::/32
  [[0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, "documentation"], // 3fff::/20
  [[0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "unique-local"], // fc00::/7
  [[0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link-local"], // fe80::/10
  [[0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "site-local"], // fec0::/10
  [[0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "multicast"], // ff00::/8
];

/** Parses strict dotted-decimal IPv4 (no leading zeros, which some parsers read as octal). */
function parse4(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^(?:0|[1-9]\d{0,2})$/.test(part)) return undefined;
    const byte = Number(part);
    if (byte > 255) return undefined;
    value = value * 256 + byte;
  }
  return value;
}

/** Parses IPv6 text (with `::`, an IPv4 tail, brackets or a zone) into eight 16-bit groups. */
function parse6(text: string): number[] | undefined {
  if (text.startsWith("[") && text.endsWith("]")) text = text.slice(1, -1);
  const zone = text.indexOf("%");
  if (zone !== -1) text = text.slice(0, zone);
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] === "" ? [] : halves[0]!.split(":");
  const tail = halves.length === 1 || halves[1] === "" ? [] : halves[1]!.split(":");
  const groups: number[] = [];
  const parseGroups = (parts: string[], last: boolean): number[] | undefined => {
    const out: number[] = [];
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (last && i === parts.length - 1 && part.includes(".")) {
        const v4 = parse4(part);
        if (v4 === undefined) return undefined;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else if (/^[0-9a-f]{1,4}$/i.test(part)) {
        out.push(parseInt(part, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const first = parseGroups(head, halves.length === 1);
  const second = parseGroups(tail, true);
  if (!first || !second) return undefined;
  if (halves.length === 1) {
    if (first.length !== 8) return undefined;
    return first;
  }
  const zeros = 8 - first.length - second.length;
  if (zeros < 1) return undefined;
  groups.push(...first);
  for (let i = 0; i < zeros; i++) groups.push(0);
  groups.push(...second);
  return groups;
}

function in4(address: number, base: number, bits: number): boolean {
  if (bits === 0) return true;
  const shift = 32 - bits;
  return Math.floor(address / 2 ** shift) === Math.floor(base / 2 ** shift);
}

function in6(groups: readonly number[], base: readonly number[], bits: number): boolean {
  for (let i = 0; i < 8 && bits > 0; i++, bits -= 16) {
    const mask = bits >= 16 ? 0xffff : (0xffff << (16 - bits)) & 0xffff;
    if ((groups[i]! & mask) !== (base[i]! & mask)) return false;
  }
  return true;
}

function range4(address: number): string | undefined {
  for (const [base, bits, name] of RANGES_4) {
    if (in4(address, base, bits)) return name;
  }
  return undefined;
}

function range6(g: readonly number[]): string | undefined {
  const v4 = (g[6]! << 16 | g[7]!) >>> 0;
  const zeros = (from: number, to: number) => g.slice(from, to).every((group) => group === 0);
  let embedded: string | undefined;
  if (zeros(0, 5) && g[5] === 0xffff) embedded = "IPv4-mapped"; // ::ffff:0:0/96
  else if (zeros(0, 4) && g[4] === 0xffff && g[5] === 0) embedded = "IPv4-translated"; // ::ffff:0:0:0/96
  else if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) embedded = "NAT64"; // 64:ff9b::/96
  if (embedded) {
    const name = range4(v4);
    return name === undefined ? undefined : `${embedded} ${name}`;
  }
  if (g[0] === 0x2002) {
    // 6to4 (2002::/16) carries an IPv4 address in its next 32 bits.
    const name = range4((g[1]! << 16 | g[2]!) >>> 0);
    return name === undefined ? undefined : `6to4 ${name}`;
  }
  for (const [base, bits, name] of RANGES_6) {
    if (in6(g, base, bits)) return name;
  }
  // Only 2000::/3 is handed out as global unicast; the rest is reserved (e.g. the deprecated
  // IPv4-compatible ::a.b.c.d).
  if ((g[0]! & 0xe000) !== 0x2000) return "reserved";
  return undefined;
}

/**
 * Names the special range an IP address is in, or returns `undefined` for a public address.
 *
 * IPv4: unspecified (0.0.0.0/8), private (10/8, 172.16/12, 192.168/16), carrier-grade NAT
 * (100.64/10), loopback (127/8), link-local (169.254/16), IETF protocol assignments, 6to4 relay
 * anycast, documentation and benchmarking ranges, multicast (224/4), reserved (240/4) and
 * broadcast. IPv6: unspecified (::), loopback (::1), unique-local (fc00::/7), link-local
 * (fe80::/10), site-local, multicast (ff00::/8), documentation, benchmarking, discard-only,
 * Teredo, ORCHID, local-use NAT64, anything outside 2000::/3; and IPv4-mapped
 * (::ffff:a.b.c.d), IPv4-translated, NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses by the
 * IPv4 address they carry.
 *
 * @param ip An IPv4 address in dotted decimal, or an IPv6 address (brackets and a zone, as in
 * `[fe80::1%eth0]`, are allowed).
 * @returns The range's name, e.g. `"loopback"` or `"IPv4-mapped private"`, or `undefined`.
 * @throws {TypeError} When `ip` is not an IP address.
 *
 * @example
 * ```ts
 * import { privateRange } from "./address_guard.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(privateRange("127.0.0.1"), "loopback");
 * assert.equal(privateRange("::ffff:10.1.2.3"), "IPv4-mapped private");
 * assert.equal(privateRange("93.184.216.34"), undefined);
 * ```
 */
export function privateRange(ip: string): string | undefined {
  if (typeof ip !== "string") {
    throw new TypeError(`Cannot check an address: expected a string, got ${typeof ip}`);
  }
  const v4 = parse4(ip);
  if (v4 !== undefined) return range4(v4);
  const v6 = ip.includes(":") ? parse6(ip) : undefined;
  if (v6 !== undefined) return range6(v6);
  throw new TypeError(`Cannot check an address: ${JSON.stringify(ip)} is not an IP address`);
}

/**
 * Tells whether an IP address is not on the public internet: loopback, private, link-local,
 * unique-local, carrier-grade NAT, unspecified, multicast, broadcast, reserved, documentation,
 * or an IPv6 form that carries such an IPv4 address. See {@linkcode privateRange} for the list.
 *
 * @param ip An IPv4 or IPv6 address.
 * @returns `true` when the address is in a special range.
 * @throws {TypeError} When `ip` is not an IP address.
 *
 * @example
 * ```ts
 * import { isPrivateAddress } from "./address_guard.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isPrivateAddress("192.168.1.10"), true);
 * assert.equal(isPrivateAddress("fe80::1"), true);
 * assert.equal(isPrivateAddress("64:ff9b::7f00:1"), true); // NAT64 of 127.0.0.1
 * assert.equal(isPrivateAddress("2606:2800:220:1:248:1893:25c8:1946"), false);
 * ```
 */
export function isPrivateAddress(ip: string): boolean {
  return privateRange(ip) !== undefined;
}

/** Resolves a host name to its IPv4 and IPv6 addresses; a name with neither is an error. */
async function resolveDns(host: string): Promise<string[]> {
  const [a, aaaa] = await Promise.allSettled([
    Deno.resolveDns(host, "A"),
    Deno.resolveDns(host, "AAAA"),
  ]);
  const failures = [a, aaaa].filter((result) => result.status === "rejected");
  for (const failure of failures) {
    // A missing record type is normal; any other failure might hide a private address.
    if (!(failure.reason instanceof Deno.errors.NotFound)) throw failure.reason;
  }
  if (failures.length === 2) throw new Error("no A or AAAA record");
  return [
    ...(a.status === "fulfilled" ? a.value : []),
    ...(aaaa.status === "fulfilled" ? aaaa.value : []),
  ];
}

/**
 * Checks that a URL's host is on the public internet. An IP literal (e.g. `127.0.0.1` or
 * `[::1]`) is checked as it is; `localhost` and `*.localhost` are refused without asking DNS;
 * any other name is resolved (A and AAAA) and refused if ANY of its addresses is private, or if
 * it cannot be resolved.
 *
 * This checks a name once: a connection made afterwards resolves it again, so a DNS server
 * that changes its answer in between (DNS rebinding) is not caught by this alone, and redirects
 * must be checked hop by hop. `--deny-private` also runs this check where the connection is
 * made, on the very addresses connected to (`EgressGuard` in `egress.ts`).
 *
 * @param url The URL to check.
 * @param resolve Resolves a host name to IP addresses. Default: `Deno.resolveDns` for A and AAAA
 * (needs `--allow-net`); a missing record type is ignored, any other DNS error refuses.
 * @returns `true` when every address is public, else a sentence giving the reason, e.g.
 * `refused: 127.0.0.1 (loopback) is a private address (--deny-private)`.
 * @throws {TypeError} When `url` is not a `URL`.
 *
 * @example
 * ```ts
 * import { checkPublic } from "./address_guard.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(
 *   await checkPublic(new URL("http://127.0.0.1:8080/cat.png")),
 *   "refused: 127.0.0.1 (loopback) is a private address (--deny-private)",
 * );
 * const resolve = (_host: string) => Promise.resolve(["93.184.216.34"]);
 * assert.equal(await checkPublic(new URL("https://example.com/cat.png"), resolve), true);
 * ```
 */
export async function checkPublic(
  url: URL,
  resolve: (host: string) => Promise<string[]> = resolveDns,
): Promise<true | string> {
  if (!(url instanceof URL)) {
    throw new TypeError(`Cannot check a host: expected a URL, got ${typeof url}`);
  }
  let host = url.hostname;
  if (host === "") return `refused: ${url.href} has no host (--deny-private)`;
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  if (host.includes(":") || parse4(host) !== undefined) {
    let name: string | undefined;
    try {
      name = privateRange(host);
    } catch {
      return `refused: ${host} is not an IP address that can be checked (--deny-private)`;
    }
    return name === undefined
      ? true
      : `refused: ${host} (${name}) is a private address (--deny-private)`;
  }
  const bare = host.endsWith(".") ? host.slice(0, -1) : host;
  if (bare.toLowerCase() === "localhost" || bare.toLowerCase().endsWith(".localhost")) {
    return `refused: ${host} is a loopback name (--deny-private)`;
  }
  let addresses: string[];
  try {
    addresses = await resolve(host);
  } catch (error) {
    const problem = error instanceof Error ? error.message : String(error);
    return `refused: ${host} could not be resolved: ${problem} (--deny-private)`;
  }
  if (!Array.isArray(addresses) || addresses.length === 0) {
    return `refused: ${host} could not be resolved: no address (--deny-private)`;
  }
  for (const address of addresses) {
    let name: string | undefined;
    try {
      name = privateRange(address);
    } catch {
      return `refused: ${host} resolves to ${
        JSON.stringify(address)
      }, which is not an IP address (--deny-private)`;
    }
    if (name !== undefined) {
      return `refused: ${host} resolves to ${address} (${name}), a private address (--deny-private)`;
    }
  }
  return true;
}
