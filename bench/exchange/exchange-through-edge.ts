/*
 * bench:exchange, part 2: the fair exchange through a real edge and a real seller agent, against
 * plain relayed downloads of the same files in the same run.
 *
 * One `udns server` (fresh data dir, SQLite) and two `udns share` processes of the same folder
 * by the same seller: `shop` (listed, every file priced at 1 credit) and `free` (no price). The
 * buyers run in this process with the buyer library of `udns get` (cli/exchange/buy-file.ts):
 * purchase, the seller's offer, manifest, the sealed file relayed by the edge and checked chunk
 * by chunk, signed acceptance, the key, decryption checked against the listing, the file in
 * place: the whole exchange, to `released`. The baseline is the same file fetched in clear from
 * `free` through the edge (relay) with the same HTTP client, written to disk and hashed.
 *
 * (a) exchanges per second: EXCHANGES purchases of SMALL_KIB files by BUYERS concurrent buyers,
 *     against as many free downloads at the same concurrency.
 * (b) one big paid file (the part 1 file, UDNS_EXCHANGE_BENCH_MIB) bought through the edge
 *     against its free download: MB/s and the ratio, the added cost of sealing on the wire.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { buyFile } from '../../cli/exchange/buy-file.js';
import { purchases } from '../../cli/exchange/purchase-client.js';
import type { EdgeTarget } from '../../cli/client-config.js';
import type { DownloadProgress } from '../../cli/download/download-progress.js';
import { checkShareStatus, requestShare, type ShareAccess } from '../../cli/download/share-http.js';
import { ensureSigningKey } from '../../cli/signing-key.js';
import { openAccountStore } from '../../server/accounts/account-store.js';
import { freePort, ProcessGroup, type ManagedProcess } from '../processes.js';
import { measureCpu } from '../proc-stats.js';

export interface EdgeExchangeOptions {
  workDir: string;
  /** The big file (hard-linked into the shared folder). */
  bigFile: string;
  exchanges: number;
  buyers: number;
  smallBytes: number;
  /** Distinct small files (the exchanges cycle over them). */
  smallFiles: number;
  progress(message: string): void;
}

export interface RateResult {
  count: number;
  seconds: number;
  perSecond: number;
  /** CPU milliseconds per item of the edge, the serving agent and the buyers (this process): steadier than rates on a shared machine. */
  cpuMsPerItem: { edge: number; agent: number; buyers: number };
}

export interface EdgeExchangeResult {
  smallBytes: number;
  buyers: number;
  exchanges: RateResult;
  freeDownloads: RateResult;
  /** Exchanges per second / free downloads per second. */
  ratio: number;
  big: { bytes: number; paidSeconds: number; freeSeconds: number; paidMBps: number; freeMBps: number; ratio: number };
}

const PRICE = 1;
const EDGE_START_TIMEOUT_MS = 60_000;
const silent: DownloadProgress = { start() {}, update() {}, note() {}, finish() {}, stop() {} };
const retry = { retries: 5, delayMs: () => 250 };
const access: ShareAccess = { trust: { insecure: false } };

function udnsBin(): string {
  for (const relative of ['../../../bin/udns.js', '../../bin/udns.js']) {
    const candidate = fileURLToPath(new URL(relative, import.meta.url));
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new Error('bin/udns.js not found next to the benchmark: run it from a udns checkout');
}

async function pool<T>(items: readonly T[], limit: number, work: (item: T, worker: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async (_, worker) => {
    while (next < items.length) await work(items[next++]!, worker);
  }));
}

/** Retries `attempt` until it resolves or `timeoutMs` passes (a listing that is still being hashed). */
async function until<T>(what: string, timeoutMs: number, attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${what}: ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** A free file fetched in clear through the edge, written to `dest` and hashed (what `udns get` does). */
async function freeDownload(url: URL, dest: string): Promise<string> {
  const res = await requestShare(url, access);
  await checkShareStatus(res, url, access);
  if (res.statusCode !== 200) {
    res.resume();
    throw new Error(`${url.href} answered ${res.statusCode}`);
  }
  const hash = createHash('sha256');
  res.on('data', (piece: Buffer) => hash.update(piece));
  await pipeline(res, fs.createWriteStream(dest));
  return hash.digest('hex');
}

/** Runs `work` (`count` items) and measures its rate and the CPU each party spent on it. */
async function rated(count: number, edge: ManagedProcess, agent: ManagedProcess, work: () => Promise<void>): Promise<RateResult> {
  const buyerCpu = process.cpuUsage();
  const started = performance.now();
  const { cpu } = await measureCpu([edge, agent], work);
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(buyerCpu);
  const perItem = (share: number | undefined): number => ((share ?? 0) * seconds * 1000) / count;
  return {
    count, seconds, perSecond: count / seconds,
    cpuMsPerItem: { edge: perItem(cpu[edge.name]), agent: perItem(cpu[agent.name]), buyers: (used.user + used.system) / 1000 / count },
  };
}

export async function measureThroughEdge(options: EdgeExchangeOptions): Promise<EdgeExchangeResult> {
  const { workDir, progress } = options;
  const group = new ProcessGroup();
  const bin = udnsBin();
  try {
    const httpPort = await freePort();
    const dnsPort = await freePort();
    const dataDir = path.join(workDir, 'edge');
    fs.mkdirSync(dataDir);
    const edge = group.start('edge (exchange)', process.execPath, [
      bin, 'server', '--http-port', String(httpPort), '--dns-port', String(dnsPort), '--data-dir', dataDir, '--bind', '127.0.0.1',
      '--log-level', 'warn', '--offer-timeout', '10m', '--sale-timeout', '30m', '--dispute-window', '1h',
    ]);
    await edge.waitForLine(/udns login - --server /, EDGE_START_TIMEOUT_MS);
    const server = `http://127.0.0.1:${httpPort}`;
    const adminToken = fs.readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();

    // Accounts beside the edge, the buyers' signing keys registered, their credits granted.
    const names = Array.from({ length: options.buyers }, (_, i) => `buyer${i}`);
    const tokens = new Map<string, string>();
    const store = await openAccountStore({ dataDir });
    try {
      for (const name of ['seller', ...names]) tokens.set(name, (await store.createAccount(name)).token);
    } finally {
      await store.close();
    }
    const buyers = await Promise.all(names.map(async (name) => {
      const edgeTarget: EdgeTarget = { server, token: tokens.get(name)!, trust: { insecure: false } };
      const env = { UDNS_CONFIG: path.join(workDir, name, 'config.json') };
      await ensureSigningKey(env, edgeTarget);
      const granted = await fetch(`${server}/api/v1/credits/grant`, {
        method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ to: name, amount: (options.exchanges + 10) * PRICE, idempotencyKey: `bench-${name}` }),
      });
      if (granted.status !== 200) throw new Error(`granting credits to ${name}: ${granted.status} ${await granted.text()}`);
      return { name, edge: edgeTarget, env };
    }));

    // The seller's folder: small files and the big one, shared twice (priced and free).
    const folder = path.join(workDir, 'shop');
    fs.mkdirSync(folder);
    const small = Array.from({ length: options.smallFiles }, (_, i) => {
      const data = randomBytes(options.smallBytes);
      fs.writeFileSync(path.join(folder, `small-${i}.bin`), data);
      return { name: `small-${i}.bin`, sha256: createHash('sha256').update(data).digest('hex') };
    });
    fs.linkSync(options.bigFile, path.join(folder, 'big.bin'));
    const sellerEnv = { ...process.env, UDNS_TOKEN: tokens.get('seller')!, UDNS_CONFIG: path.join(workDir, 'seller', 'config.json'), XDG_CACHE_HOME: path.join(workDir, 'seller', 'cache') };
    const shares: ManagedProcess[] = [];
    for (const [name, extra] of [['shop', ['--list', '--price', `*.bin=${PRICE}`]], ['free', []]] as const) {
      const share = group.start(`share ${name}`, process.execPath, [bin, 'share', folder, '--name', name, ...extra, '--server', server], { env: sellerEnv });
      await share.waitForLine(/ -> /, 60_000);
      shares.push(share);
    }
    const paidUrl = (file: string): URL => new URL(`http://shop.localhost:${httpPort}/${file}`);
    const freeUrl = (file: string): URL => new URL(`http://free.localhost:${httpPort}/${file}`);
    const out = path.join(workDir, 'out');
    fs.mkdirSync(out);

    let bought = 0;
    const buy = async (buyer: (typeof buyers)[number], file: string, expected: string): Promise<number> => {
      const dest = path.join(out, `${buyer.name}-${++bought}-${file}`);
      const started = performance.now();
      const result = await buyFile({
        url: paidUrl(file), dest, edge: buyer.edge, env: buyer.env, access, progress: silent, retry, member: null,
        payUpTo: PRICE, hintedPrice: PRICE, ask: null, force: false,
      });
      const seconds = (performance.now() - started) / 1000;
      if (result.sha256 !== expected || result.sale.state !== 'released') throw new Error(`bought ${file}: ${result.sale.state}, ${result.sha256}`);
      fs.rmSync(dest, { force: true });
      fs.rmSync(result.receiptFile, { force: true });
      return seconds;
    };

    // Warm-up (not timed): every small file bought once, as soon as the listing has it.
    progress(`waiting for the ${small.length} small files to be listed, buying each once (warm-up)`);
    for (const file of small) {
      await until(`listing ${file.name}`, 60_000, () => purchases.request(buyers[0]!.edge, { url: paidUrl(file.name).href, maxPrice: PRICE, idempotencyKey: `warm-${file.name}` }).then((sale) => purchases.cancel(buyers[0]!.edge, sale.id)));
      await buy(buyers[0]!, file.name, file.sha256);
    }

    // (a) exchanges per second against free downloads per second, same files, same concurrency.
    const work = Array.from({ length: options.exchanges }, (_, i) => small[i % small.length]!);
    progress(`${options.exchanges} free downloads of ${options.smallBytes} bytes through the edge, ${options.buyers} at a time`);
    const freeDownloads = await rated(options.exchanges, edge, shares[1]!, () => pool(work, options.buyers, async (file, worker) => {
      const dest = path.join(out, `free-${worker}-${file.name}`);
      if (await freeDownload(freeUrl(file.name), dest) !== file.sha256) throw new Error(`free ${file.name}: wrong bytes`);
      fs.rmSync(dest, { force: true });
    }));
    progress(`free: ${freeDownloads.perSecond.toFixed(1)} downloads/s; now ${options.exchanges} exchanges`);
    const exchanges = await rated(options.exchanges, edge, shares[0]!, () => pool(work, options.buyers, async (file, worker) => {
      await buy(buyers[worker]!, file.name, file.sha256);
    }));
    progress(`paid: ${exchanges.perSecond.toFixed(1)} exchanges/s`);

    // (b) the big file: free through the edge, then bought (the seller seals it at the offer).
    const bigBytes = fs.statSync(options.bigFile).size;
    const bigSha = await new Promise<string>((resolve, reject) => {
      const hash = createHash('sha256');
      fs.createReadStream(options.bigFile).on('data', (piece) => hash.update(piece)).on('end', () => resolve(hash.digest('hex'))).on('error', reject);
    });
    await until('listing big.bin', 600_000, () => purchases.request(buyers[0]!.edge, { url: paidUrl('big.bin').href, maxPrice: PRICE, idempotencyKey: 'warm-big' }).then((sale) => purchases.cancel(buyers[0]!.edge, sale.id)));
    progress(`free download of ${(bigBytes / 2 ** 20).toFixed(0)} MiB through the edge`);
    const started = performance.now();
    const freeDest = path.join(out, 'big-free.bin');
    if (await freeDownload(freeUrl('big.bin'), freeDest) !== bigSha) throw new Error('free big.bin: wrong bytes');
    const freeSeconds = (performance.now() - started) / 1000;
    fs.rmSync(freeDest, { force: true });
    progress(`free: ${(bigBytes / 1e6 / freeSeconds).toFixed(0)} MB/s; now bought`);
    const paidSeconds = await buy(buyers[0]!, 'big.bin', bigSha);
    progress(`paid: ${(bigBytes / 1e6 / paidSeconds).toFixed(0)} MB/s`);

    return {
      smallBytes: options.smallBytes,
      buyers: options.buyers,
      exchanges,
      freeDownloads,
      ratio: exchanges.perSecond / freeDownloads.perSecond,
      big: { bytes: bigBytes, paidSeconds, freeSeconds, paidMBps: bigBytes / 1e6 / paidSeconds, freeMBps: bigBytes / 1e6 / freeSeconds, ratio: freeSeconds / paidSeconds },
    };
  } finally {
    await group.stopAll();
  }
}

function cpuText(result: RateResult): string {
  const { edge, agent, buyers } = result.cpuMsPerItem;
  return `CPU ms each: edge ${edge.toFixed(1)}, agent ${agent.toFixed(1)}, buyer ${buyers.toFixed(1)}`;
}

export function formatEdgeReport(result: EdgeExchangeResult): string {
  const { exchanges, freeDownloads, big } = result;
  return [
    `through a real edge and seller agent (relay), ${result.buyers} concurrent buyers, ${(result.smallBytes / 1024).toFixed(0)} KiB files`,
    `  free downloads:   ${freeDownloads.perSecond.toFixed(1).padStart(8)} /s (${freeDownloads.count} in ${freeDownloads.seconds.toFixed(1)} s; ${cpuText(freeDownloads)})`,
    `  paid exchanges:   ${exchanges.perSecond.toFixed(1).padStart(8)} /s (${exchanges.count} in ${exchanges.seconds.toFixed(1)} s, full exchange to released; ${cpuText(exchanges)})`,
    `  exchange / free:  ${result.ratio.toFixed(3)}`,
    `a ${(big.bytes / 2 ** 20).toFixed(0)} MiB file through the edge (relay), one buyer`,
    `  free download:    ${big.freeMBps.toFixed(0).padStart(8)} MB/s (${big.freeSeconds.toFixed(1)} s)`,
    `  paid download:    ${big.paidMBps.toFixed(0).padStart(8)} MB/s (${big.paidSeconds.toFixed(1)} s: offer with sealing, sealed transfer checked per chunk, accept, decrypt + check)`,
    `  paid / free:      ${big.ratio.toFixed(3)} of the speed (${(1 / big.ratio).toFixed(2)}× the time)`,
  ].join('\n');
}
