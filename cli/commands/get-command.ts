import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { UdnsError, type TransferPath } from '../../protocol/index.js';
import { say, warn } from '../cli-output.js';
import { readCaFile } from '../client-config.js';
import { folderName, suggestedName, unsafeNameReason } from '../download/download-name.js';
import { createDownloadProgress, formatBytes } from '../download/download-progress.js';
import { backoffDelayMs, DEFAULT_RETRIES, withRetries } from '../download/download-retry.js';
import { getSharedFile, type DownloadContext, type SavedFile } from '../download/file-download.js';
import { getFolderRecursive, getFolderZip } from '../download/folder-download.js';
import { openMemberTransfers, parseVia } from '../download/member-transfer.js';
import { canPrompt, promptPassword } from '../download/password-prompt.js';
import { PasswordRequired, PaymentRequiredError, type ShareAccess } from '../download/share-http.js';
import { resolveShareTarget, type ShareTarget } from '../download/share-target.js';
import { folderPurchases } from '../exchange/folder-purchases.js';
import { getPaidFile } from '../exchange/get-paid-file.js';

interface GetFlags {
  output?: string;
  password?: string;
  recursive?: boolean;
  force?: boolean;
  ca?: string;
  insecure?: boolean;
  progress: boolean;
  retries: number;
  via?: TransferPath;
  receivePort: number;
  payUpTo?: number;
  json?: boolean;
}

/** `udns get <url>`: a shared file or folder to this machine, resumable and verified. */
export function registerGetCommand(program: Command): void {
  program.command('get')
    .description('download a shared file or folder (resumes, verifies the SHA-256, rides out agent restarts)')
    .argument('<url>', 'URL of a shared file, or of a folder (then saved as <folder>.zip, or file by file with --recursive)')
    .option('-o, --output <path>', 'file to save to, or a folder to save into (ends with / or exists); with --recursive, the folder to fill')
    .option('--password <password>', 'password of a protected share (default: $UDNS_SHARE_PASSWORD, else asked on the terminal)')
    .option('-r, --recursive', 'download a folder file by file, keeping its tree, instead of as one ZIP')
    .option('-f, --force', 'replace existing files that are not identical to the shared ones')
    .option('--ca <file>', 'PEM file of a private CA that signed the share\'s certificate')
    .option('--insecure', 'do not verify the share\'s certificate')
    .option('--no-progress', 'no progress bar or progress lines on stderr')
    .option('--via <path>', 'force the transfer path of a shared file: direct (from the sharer\'s PC), push (the sharer\'s PC connects to this one) or relay (through the edge); default: the best that works, falling back in that order', parseVia)
    .option('--receive-port <port>', 'port this PC listens on for a push (default: any free one)', parseReceivePort, 0)
    .option('--pay-up-to <credits>', 'buy a file that is for sale without being asked, if it costs at most this many credits (default: ask on the terminal, refuse elsewhere)', parsePayUpTo)
    .option('--json', 'for a file bought: print the sale and the edge\'s receipt as JSON')
    .option('--retries <n>', 'retries in a row after a lost connection or an offline share (10 ≈ one minute)', parseRetries, DEFAULT_RETRIES)
    .action(async (input: string, flags: GetFlags) => {
      await runGet(input, flags, process.env);
    });
}

async function runGet(input: string, flags: GetFlags, env: NodeJS.ProcessEnv): Promise<void> {
  const { url, password } = parseShareUrl(input);
  if (flags.output === '-') throw new UdnsError('bad_request', '-o - (stdout) is not supported: udns get saves to a file so it can resume and verify; pass -o <file>');
  const access: ShareAccess = {
    trust: { ca: flags.ca === undefined ? undefined : readCaFile(flags.ca), insecure: flags.insecure ?? false },
    password: flags.password ?? password ?? (env.UDNS_SHARE_PASSWORD || undefined),
  };
  const progress = createDownloadProgress({ enabled: flags.progress, stream: process.stderr });
  const context: DownloadContext = { access, progress, force: flags.force ?? false, retry: { retries: flags.retries, delayMs: backoffDelayMs } };
  process.once('SIGINT', () => {
    progress.stop();
    warn('interrupted: the partial download is kept (.part); run the same command again to resume');
    process.exit(130);
  });

  // A file for sale (the share answers 402) is bought through the edge's escrow: cli/exchange/.
  const buy = (error: PaymentRequiredError) => getPaidFile(url, outputPath(flags.output, suggestedName(url, undefined)), error.price, flags, context, env);
  let target: ShareTarget;
  try {
    target = await askPasswordIfNeeded(url, access, () => withRetries(context.retry, (line) => progress.note(line), () => resolveShareTarget(url, access)));
  } catch (error) {
    if (error instanceof PaymentRequiredError) return buy(error);
    throw error;
  }
  // A logged-in member's file downloads go by the best transfer path (direct, push, relay);
  // a folder's ZIP is streamed by the share without a checksum, through the edge.
  const member = target.kind === 'file' || flags.recursive
    ? await openMemberTransfers(target.url, { via: flags.via, receivePort: flags.receivePort }, env, (line) => progress.note(line))
    : null;
  const fileContext: DownloadContext = member === null ? context : { ...context, transfers: member };
  try {
    if (target.kind === 'file') {
      const file = outputPath(flags.output, target.name);
      const saved = await getSharedFile(target.url, file, target.size, path.basename(file), fileContext).catch((error: unknown) => {
        if (error instanceof PaymentRequiredError) return null;
        throw error;
      });
      if (saved === null) {
        member?.close();
        return await buy(new PaymentRequiredError(target.url, undefined));
      }
      if (!saved.skipped && saved.via !== undefined && saved.via.length > 0) warn(`transferred via ${saved.via.join(', then ')}`);
      report(saved);
    } else if (flags.recursive) {
      const dir = flags.output === undefined ? outputPath(undefined, folderName(target.url)) : path.resolve(flags.output);
      // Files for sale: skipped with a line each, or bought with --pay-up-to (cli/exchange/folder-purchases.ts).
      const summary = await getFolderRecursive(target.url, target.listing, dir, fileContext, folderPurchases({ payUpTo: flags.payUpTo, env, member, context: fileContext }));
      const skipped = summary.skipped > 0 ? `, ${summary.skipped} already there` : '';
      const { bought, skipped: notBought, failed } = summary.priced;
      const forSale = [bought > 0 ? `${bought} bought` : '', notBought > 0 ? `${notBought} for sale skipped` : '', failed > 0 ? `${failed} purchases failed` : ''].filter(Boolean).join(', ');
      if (Object.keys(summary.via).length > 0) warn(`transferred via ${Object.entries(summary.via).map(([via, files]) => `${via} (${files} ${files === 1 ? 'file' : 'files'})`).join(', ')}`);
      say(`saved ${display(dir)}${path.sep} (${summary.files} ${summary.files === 1 ? 'file' : 'files'}, ${formatBytes(summary.bytes)}${skipped}${forSale === '' ? '' : `; ${forSale}`})`);
      if (failed > 0) throw new UdnsError('payment_required', `${failed} of the folder's files for sale could not be bought (see above); every free file arrived: run the same command again to retry them`);
    } else {
      if (flags.via !== undefined && flags.via !== 'relay') throw new UdnsError('bad_request', `--via ${flags.via} is for files: a folder's ZIP goes through the edge; pass --recursive to fetch it file by file`);
      report(await getFolderZip(target.url, outputPath(flags.output, `${folderName(target.url)}.zip`), context));
    }
  } finally {
    member?.close();
  }
}

/** The result line on stdout. */
function report(saved: SavedFile): void {
  if (saved.skipped) {
    say(`already there: ${display(saved.file)} (${formatBytes(saved.size)}, same SHA-256 as the share)`);
    return;
  }
  const verified = { verified: 'SHA-256 verified', 'not offered': 'size verified, no checksum offered', 'not checked': 'size verified' }[saved.checksum];
  const resumed = saved.resumedFrom > 0 ? `, resumed at ${formatBytes(saved.resumedFrom)}` : '';
  say(`saved ${display(saved.file)} (${formatBytes(saved.size)}, ${verified}${resumed})`);
}

/**
 * Runs `task`; when the share wants a password that was not given and stdin is a terminal,
 * asks for it (no echo) and runs it once more. Without a terminal the 401's message tells the
 * user to pass --password.
 */
async function askPasswordIfNeeded(url: URL, access: ShareAccess, task: () => Promise<ShareTarget>): Promise<ShareTarget> {
  try {
    return await task();
  } catch (error) {
    if (!(error instanceof PasswordRequired) || !canPrompt()) throw error;
    access.password = await promptPassword(`udns: password for ${url.host}: `);
    return task();
  }
}

/** Parses `--receive-port`. */
function parseReceivePort(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) throw new InvalidArgumentError(`port must be 0-65535, got "${value}"`);
  return Number(value);
}

/** Parses `--pay-up-to`. */
function parsePayUpTo(value: string): number {
  if (!/^\d{1,13}$/.test(value) || Number(value) < 1) throw new InvalidArgumentError(`credits must be a whole number from 1, got "${value}"`);
  return Number(value);
}

/** Parses `--retries`. */
function parseRetries(value: string): number {
  if (!/^\d{1,3}$/.test(value)) throw new InvalidArgumentError(`retries must be a whole number from 0 to 999, got "${value}"`);
  return Number(value);
}

/** The share URL, with a password written into it (`https://udns:pw@…`) taken out. */
function parseShareUrl(input: string): { url: URL; password?: string } {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new UdnsError('bad_request', `invalid URL "${input}": use the share's address, e.g. https://photos.example.net/trip/a.jpg`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UdnsError('bad_request', `"${input}" is not an http:// or https:// URL`);
  const password = url.password === '' ? undefined : decodeURIComponent(url.password);
  url.username = '';
  url.password = '';
  url.hash = '';
  return { url, password };
}

/**
 * Where a download goes: `-o` as given, or inside it when it names a folder (ends with `/` or
 * exists as one); without `-o`, the suggested name in the current folder. A name suggested by
 * the server or the URL must be one plain file name, never a path.
 */
function outputPath(output: string | undefined, suggested: string | undefined): string {
  const intoFolder = output === undefined || /[/\\]$/.test(output) || isFolder(output);
  if (!intoFolder) return path.resolve(output);
  if (suggested === undefined) throw new UdnsError('bad_request', 'the URL names no file: pass -o <file>');
  const reason = unsafeNameReason(suggested);
  if (reason !== null) throw new UdnsError('bad_request', `refusing to save as "${suggested}": ${reason}; pass -o <file> to choose the name`);
  return path.resolve(output ?? '.', suggested);
}

function isFolder(file: string): boolean {
  try {
    return fs.statSync(file).isDirectory();
  } catch {
    return false;
  }
}

/** A path as the user would type it: relative to the current folder when inside it. */
function display(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative === '' || relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
}
