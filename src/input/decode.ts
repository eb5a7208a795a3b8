/**
 * Turning a list's bytes into UTF-8 text chunks, gunzipping them on the fly when they start like
 * gzip, and releasing the stream however reading ends.
 *
 * @module
 */

/** Throws the `TypeError` of the readers when `stream` is not a `ReadableStream`. */
export function checkStream(stream: unknown): void {
  if (!(stream instanceof ReadableStream)) {
    throw new TypeError(
      `Cannot read the input: expected a ReadableStream of bytes, got ${
        stream === null ? "null" : typeof stream
      }`,
    );
  }
}

/** Decodes the stream as UTF-8 text chunks, gunzipping it first when asked and it is gzip. */
export async function* decode(
  stream: ReadableStream<Uint8Array>,
  gunzip: boolean,
): AsyncGenerator<string> {
  const reader = stream.getReader();
  let source: ReadableStreamDefaultReader<Uint8Array> = reader;
  let piping: Promise<void> | undefined;
  let head: Uint8Array | undefined;
  try {
    if (gunzip) {
      head = await readHead(reader);
      if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
        const first = head;
        head = undefined;
        const raw = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(first);
          },
          async pull(controller) {
            const { done, value } = await reader.read();
            // After a cancel, the read ends as done and the stream is closed already.
            try {
              if (done) controller.close();
              else controller.enqueue(value);
            } catch {
              // Closed by the cancel: nothing to do.
            }
          },
          cancel(reason) {
            return reader.cancel(reason);
          },
        }, { highWaterMark: 0 });
        const gzip = new DecompressionStream("gzip");
        // Typed as taking views of ArrayBuffer only; any Uint8Array works.
        piping = raw.pipeTo(gzip.writable as WritableStream<Uint8Array>);
        // A failure shows on the readable side too; this only keeps it from going unhandled.
        piping.catch(() => {});
        source = gzip.readable.getReader();
      }
    }
    const decoder = new TextDecoder();
    if (head !== undefined && head.length > 0) {
      const text = decoder.decode(head, { stream: true });
      if (text !== "") yield text;
    }
    while (true) {
      let step: ReadableStreamReadResult<Uint8Array>;
      try {
        step = await source.read();
      } catch (error) {
        if (piping === undefined) throw error;
        throw new TypeError(
          `Cannot read the input: it starts like gzip, but reading it failed: ${
            (error as Error)?.message ?? error
          }`,
          { cause: error },
        );
      }
      if (step.done) break;
      const text = decoder.decode(step.value, { stream: true });
      if (text !== "") yield text;
    }
    const text = decoder.decode();
    if (text !== "") yield text;
  } finally {
    if (source !== reader) {
      await source.cancel().catch(() => {});
      await piping?.catch(() => {});
    }
    await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

/** Reads until there are at least 2 bytes (enough to spot gzip) or the stream ends. */
async function readHead(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<Uint8Array> {
  let head: Uint8Array = new Uint8Array(0);
  while (head.length < 2) {
    const { done, value } = await reader.read();
    if (done) break;
    if (head.length === 0) {
      head = value;
    } else {
      const joined = new Uint8Array(head.length + value.length);
      joined.set(head);
      joined.set(value, head.length);
      head = joined;
    }
  }
  return head;
}
