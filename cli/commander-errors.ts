import type { Command, CommanderError } from 'commander';

/**
 * commander's complaint about the command line as the one `udns: …` line every other error
 * is, ending with where the usage is: it used to take two or three lines
 * (`command-argument value '99999' is invalid for argument 'port'. port must be…`, then
 * `(run with --help for usage)`), unlike everything else the CLI says.
 */
export function commanderErrorLine(error: CommanderError, root: Command, argv: readonly string[]): string {
  const usage = `see \`${commandPath(root, argv)} --help\``;
  let text = error.message.replace(/^error: /, '').trim();
  const suggestion = /\n\(Did you mean (.+)\?\)$/.exec(text);
  if (suggestion) text = `${text.slice(0, suggestion.index)}, did you mean ${suggestion[1]}?`;
  text = text
    // Our parsers already name the value: keep the argument and the reason.
    .replace(/^command-argument value '.*' is invalid for argument '(.+?)'\. /s, '<$1>: ')
    .replace(/^option '(-[^ ']+)[^']*' argument '.*' is invalid\. /s, '$1: ')
    .replace(/\s*\n\s*/g, ' ');
  return `${text} (${usage})`;
}

/** `udns dns add` for the words of argv that name commands, from the root down. */
function commandPath(root: Command, argv: readonly string[]): string {
  const names = [root.name()];
  let current = root;
  for (const word of argv) {
    if (word.startsWith('-')) continue;
    const sub = current.commands.find((command) => command.name() === word || command.aliases().includes(word));
    if (sub === undefined) break;
    names.push(sub.name());
    current = sub;
  }
  return names.join(' ');
}
