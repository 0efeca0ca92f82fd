import type { Command } from 'commander';
import { parsePriceFlag } from '../../agent/exchange/price-list.js';
import { parseDuration } from '../../agent/share/share-options.js';
import { UdnsError } from '../../protocol/index.js';
import { warn } from '../cli-output.js';
import { expose, withAgentFlags, type AgentFlags } from './expose-command.js';
import { QR_FLAG_HELP } from '../qr-code.js';
import { parsePort } from '../parse-args.js';
import { accessRouteSpec, withAccessFlags, type AccessFlags } from '../access-flags.js';

interface ShareFlags extends AgentFlags, AccessFlags {
  name?: string;
  password?: string;
  allowUpload?: boolean;
  webdav?: boolean;
  expires?: string;
  showHidden?: boolean;
  followSymlinks?: boolean;
  list?: boolean;
  price: string[];
}

/** `udns share <dir>`: a folder, served by the agent itself under a name. */
export function registerShareCommand(program: Command): void {
  withAgentFlags(withAccessFlags(
    program.command('share')
      .description('share a folder: browse, view and download it (and upload, mount with WebDAV) by name')
      .argument('<dir>', 'folder to share')
      .option('--name <name>', 'name to publish under (default: a random readable one)')
      .option('--qr', QR_FLAG_HELP)
      .option('--password <password>', 'ask visitors for this password (or set UDNS_SHARE_PASSWORD)')
      .option('--allow-upload', 'let visitors upload files (the share is read-only otherwise)')
      .option('--webdav', 'also serve WebDAV, so the share mounts as a network drive')
      .option('--expires <duration>', 'stop answering after this long: 90s, 30m, 2h, 1d')
      .option('--show-hidden', 'show dotfiles (hidden by default)')
      .option('--follow-symlinks', 'follow symlinks that point outside the folder (refused by default)')
      .option('--list', 'list the share in the members\' search on the edge (names, sizes, dates, types, SHA-256 of what visitors can see)')
      .option('--price <glob=credits>', 'sell the files matching GLOB (a share path like talks/*.pdf; ** for any folders) for CREDITS each; repeat for more, the first match wins; needs --list', (value: string, previous: string[]) => [...previous, value], [] as string[])
      .option('--transfer-port <port>', 'port of this PC for direct and push transfers to logged-in members (default: any free one; forward it on your router to allow direct)', parsePort)
      .option('--no-transfers', 'no direct or push transfers: every download goes through the edge'),
  'http')).action(async (dir: string, flags: ShareFlags) => {
    if (flags.price.length > 0 && !flags.list) {
      throw new UdnsError('config_invalid', '--price needs --list: buyers find and buy paid files through the members\' search (add --list)');
    }
    const prices = flags.price.map(parsePriceFlag);
    const expiresIn = flags.expires === undefined ? null : parseDuration(flags.expires);
    const access = accessRouteSpec(flags, 'http');
    await expose([{
      kind: 'share',
      dir,
      name: flags.name,
      password: flags.password ?? (process.env.UDNS_SHARE_PASSWORD || undefined),
      allowUpload: flags.allowUpload ?? false,
      webdav: flags.webdav ?? false,
      expires: flags.expires,
      showHidden: flags.showHidden ?? false,
      followSymlinks: flags.followSymlinks ?? false,
      list: flags.list ?? false,
      prices,
      ...access,
    }], flags);
    if (expiresIn !== null) {
      warn(`the share expires in ${flags.expires} (at ${new Date(Date.now() + expiresIn).toLocaleTimeString()})`);
      remindAt(Date.now() + expiresIn, () => warn('the share has expired: visitors now get 410 Gone; Ctrl-C to stop'));
    }
  });
}

/** Node's timers overflow past 24.8 days (and then fire at once): wait in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function remindAt(atMs: number, remind: () => void): void {
  const left = atMs - Date.now();
  if (left > MAX_TIMER_MS) setTimeout(() => remindAt(atMs, remind), MAX_TIMER_MS).unref();
  else setTimeout(remind, Math.max(0, left)).unref();
}
