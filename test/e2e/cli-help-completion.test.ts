import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, test } from 'vitest';
import { HELP_EXAMPLES } from '../../cli/help-examples.js';
import { ENV_KEYS } from '../../server/config.js';
import { PACKAGE_ROOT, runCli } from '../helpers/test-agent.js';

const run = promisify(execFile);

/*
 * Issue 9, the command line: `udns --version` from package.json, examples in every command's
 * help, the edge's UDNS_* variables in `udns server --help`, and `udns completion bash|zsh|fish`
 * generated from the commands themselves.
 */
describe('udns help, version and completion', () => {
  let bash: string;
  let commandPaths: string[];

  beforeAll(async () => {
    bash = (await runCli(['completion', 'bash'])).stdout;
    // Every command path the program has, as the bash script's case labels list them.
    commandPaths = [...bash.matchAll(/^ {4}'([^']*)'\) echo/gm)].map((match) => match[1]!);
  });

  /** What bash offers after typing `line` (the last word is the one being completed). */
  async function complete(line: string): Promise<string[]> {
    const words = line.split(' ');
    const script = `source "$1"; COMP_WORDS=(${words.map((word) => `'${word}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _udns; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'udns-completion-')), 'udns.bash');
    fs.writeFileSync(file, bash);
    const { stdout } = await run('bash', ['-c', script, 'bash', file]);
    return stdout.split('\n').filter(Boolean);
  }

  test('--version is package.json\'s, from any folder', async () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
    const { stdout } = await run(process.execPath, [path.join(PACKAGE_ROOT, 'bin', 'udns.js'), '--version'], { cwd: os.tmpdir() });
    expect(stdout.trim()).toBe(version);
  });

  test('every command that runs something has examples, and they show in its --help', async () => {
    const groups = new Set(commandPaths.map((p) => p.split(' ').slice(0, -1).join(' ')).filter(Boolean));
    const leaves = commandPaths.filter((p) => p !== '' && !groups.has(p));
    expect(leaves).toContain('name ls');
    expect(leaves.filter((p) => !HELP_EXAMPLES[p])).toEqual([]);
    const help = await runCli(['dns', 'ls', '--help']);
    expect(help.stdout).toMatch(/Examples:\n {2}\$ udns dns ls\n/);
  });

  test('udns server --help lists every UDNS_* variable the edge reads, with its flag', async () => {
    const { stdout } = await runCli(['server', '--help']);
    for (const variable of Object.keys(ENV_KEYS)) expect(stdout).toMatch(new RegExp(`^ {2}${variable} +--[a-z0-9-]+$`, 'm'));
    expect(stdout).toMatch(/^ {2}UDNS_HTTP_PORT +--http-port$/m);
  });

  test('bash completes commands, subcommands and options, sourced in a real bash', async () => {
    expect(await complete('udns na')).toEqual(['name']);
    expect(await complete('udns name l')).toEqual(['ls']);
    expect(await complete('udns dns ls --to')).toEqual(['--token-file', '--token']);
    expect(await complete('udns http 3000 --na')).toEqual(['--name']);
    expect(await complete('udns account ')).toEqual(expect.arrayContaining(['create', 'list', 'tokens', 'revoke-token', 'token']));
    expect(await complete('udns comp')).toEqual(['completion']);
  });

  test('zsh and fish scripts name every command; an unknown shell is one clean error', async () => {
    const zsh = (await runCli(['completion', 'zsh'])).stdout;
    const fish = (await runCli(['completion', 'fish'])).stdout;
    expect(zsh).toContain('bashcompinit');
    for (const commandPath of commandPaths.filter(Boolean)) {
      const name = commandPath.split(' ').at(-1)!;
      expect(zsh).toContain(`'${commandPath}')`);
      expect(fish).toMatch(new RegExp(`-a ${name} -d `));
    }
    expect(fish).toMatch(/__fish_seen_subcommand_from dns; and __fish_seen_subcommand_from ls' -l token-file -r -F/);
    const wrong = await runCli(['completion', 'ksh']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toBe('udns: <shell>: shell must be one of bash, zsh, fish (see `udns completion --help`)\n');
  });
});
