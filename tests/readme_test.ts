import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { helpText } from "../cli/flags.ts";

const README = fileURLToPath(new URL("../README.md", import.meta.url));

/** The part of the help that the README shows: from the usage line to the exit statuses. */
function usage(text: string): string {
  const start = text.indexOf("Usage: downpour");
  const end = text.indexOf("\n", text.indexOf("Exit status:"));
  return text.slice(start, end);
}

Deno.test("the README's usage block is the command's --help, flag for flag", async () => {
  const readme = await Deno.readTextFile(README);
  assert.equal(usage(readme), usage(helpText()));
});
