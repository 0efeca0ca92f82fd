import type { Command } from 'commander';
import { say } from './cli-output.js';

/**
 * Adds `--json` to a command that lists or shows something, with one wording everywhere.
 * The JSON is one object (`{ "names": [...] }`, never a bare array) so fields can be added later
 * without breaking a script's `jq .names`.
 */
export function withJsonFlag(command: Command): Command {
  return command.option('--json', 'print JSON instead of text (one object, for scripts and jq)');
}

/** Prints `value` as indented JSON on stdout: dates as ISO strings, undefined fields left out. */
export function printJson(value: unknown): void {
  say(JSON.stringify(value, null, 2));
}
