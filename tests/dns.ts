/**
 * A DNS server of the tests' own (UDP, node:dgram): it answers A queries from a zone whose
 * answers may change from one query to the next, as a DNS-rebinding attacker's does. AAAA and
 * other types get an empty answer, names outside the zone NXDOMAIN; every answer has TTL 0.
 */

import dgram from "node:dgram";

/** A name's A records: fixed, or chosen per query (`n` counts this name's A queries from 0). */
export type Answers = readonly string[] | ((n: number) => readonly string[]);

/** A running server; `await using` closes it. */
export interface DnsServer extends AsyncDisposable {
  /** The UDP port it answers on. */
  readonly port: number;
  /** How many A queries each name got. */
  readonly queries: Map<string, number>;
}

/** Starts a server for `zone` (lower-case names without the final dot) on `hostname:port`. */
export function startDns(
  zone: Record<string, Answers>,
  hostname = "127.0.0.1",
  port = 53,
): Promise<DnsServer> {
  const socket = dgram.createSocket("udp4");
  const queries = new Map<string, number>();
  socket.on("message", (message: Uint8Array, from: { port: number; address: string }) => {
    const answer = respond(message, zone, queries);
    if (answer) socket.send(answer, from.port, from.address);
  });
  return new Promise((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(port, hostname, () => {
      resolve({
        port: socket.address().port,
        queries,
        [Symbol.asyncDispose]: () => new Promise<void>((done) => socket.close(() => done())),
      });
    });
  });
}

/** The response to one query, or `undefined` for a packet that is not one. */
function respond(
  query: Uint8Array,
  zone: Record<string, Answers>,
  queries: Map<string, number>,
): Uint8Array | undefined {
  if (query.byteLength < 12 || query[5] !== 1) return undefined; // exactly one question
  const labels: string[] = [];
  let at = 12;
  while (at < query.byteLength && query[at] !== 0) {
    const length = query[at]!;
    labels.push(new TextDecoder().decode(query.subarray(at + 1, at + 1 + length)));
    at += length + 1;
  }
  const end = at + 5; // the zero label, QTYPE, QCLASS
  if (end > query.byteLength) return undefined;
  const type = (query[at + 1]! << 8) | query[at + 2]!;
  const name = labels.join(".").toLowerCase();
  const entry = zone[name];
  let addresses: readonly string[] = [];
  if (entry !== undefined && type === 1) {
    const n = queries.get(name) ?? 0;
    queries.set(name, n + 1);
    addresses = typeof entry === "function" ? entry(n) : entry;
  }
  const head = new Uint8Array(12);
  head.set(query.subarray(0, 2)); // the query's ID
  head[2] = 0x84 | (query[2]! & 0x01); // a response, authoritative, RD copied
  head[3] = entry === undefined ? 3 : 0; // NXDOMAIN or NOERROR
  head[5] = 1; // one question
  head[7] = addresses.length;
  const records = addresses.flatMap((address) => [
    0xc0,
    12, // the name: a pointer to the question's
    0,
    1,
    0,
    1, // type A, class IN
    0,
    0,
    0,
    0, // TTL 0
    0,
    4,
    ...address.split(".").map(Number),
  ]);
  return new Uint8Array([...head, ...query.subarray(12, end), ...records]);
}
