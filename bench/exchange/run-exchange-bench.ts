/*
 * `npm run bench:exchange`: what the fair exchange costs on this machine, against a baseline
 * measured in the same run.
 *
 * Part 1 (now): the cost of sealing. One file (1 GiB of random bytes by default) read plainly
 * (SHA-256 + stream to /dev/null: what serving a free file costs) against what a sale costs the
 * seller (commitSealed: seal and hash every chunk for the offer; then sealedStream to /dev/null:
 * seal again while serving) and the buyer (SealedChunkChecker on the sealed stream, then open
 * every chunk and check it against the plain leaves and the whole SHA-256). Rounds are
 * interleaved so drift hits every measurement alike; MB/s (wall) and MB per CPU-second (this
 * process's CPU time, steadier on a shared machine), median and best. Then the AEAD choice:
 * AES-256-GCM against ChaCha20-Poly1305 sealing 1 MiB chunks in memory, in short samples whose
 * best shows the speed of an idle core.
 *
 * Part 2 (exchange-through-edge.ts): exchanges per second through a real edge and seller agent
 * against free relayed downloads of the same files, and the same big file bought against
 * downloaded free through the edge (MB/s and ratio).
 *
 * Environment: UDNS_EXCHANGE_BENCH_MIB (file size, default 1024), UDNS_EXCHANGE_BENCH_ROUNDS (3),
 * UDNS_EXCHANGE_BENCH_AEAD_MIB (bytes sealed per AEAD sample, default 256),
 * UDNS_EXCHANGE_BENCH_PARTS (`sealing,edge`: which parts run), UDNS_EXCHANGE_BENCH_EXCHANGES
 * (200), UDNS_EXCHANGE_BENCH_BUYERS (concurrent buyers, 8), UDNS_EXCHANGE_BENCH_SMALL_KIB (file
 * size of the exchanges, 64). Writes JSON to bench/results/exchange-<time>.json.
 */
import { createCipheriv, createHash, randomBytes, randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { leafHash } from '../../protocol/merkle.js';
import {
  CHUNK_BYTES,
  SealedChunkChecker,
  chunkCount,
  commitSealed,
  openChunk,
  sealedOffsetOfChunk,
  sealedStream,
  type SealedCommitment,
} from '../../protocol/sealed-file.js';
import { formatEdgeReport, measureThroughEdge, type EdgeExchangeResult } from './exchange-through-edge.js';
import { envInt } from '../env-int.js';

const progress = (message: string): void => void process.stderr.write(`bench:exchange: ${message}\n`);

const FILE_BYTES = envInt('UDNS_EXCHANGE_BENCH_MIB', 1024) * CHUNK_BYTES;
const ROUNDS = envInt('UDNS_EXCHANGE_BENCH_ROUNDS', 3);
const AEAD_BYTES = envInt('UDNS_EXCHANGE_BENCH_AEAD_MIB', 256) * CHUNK_BYTES;
const WRITE_CHUNK_BYTES = 4 * CHUNK_BYTES;
const SALE_ID = 'be'.repeat(16);
const PARTS = new Set((process.env.UDNS_EXCHANGE_BENCH_PARTS ?? 'sealing,edge').split(',').map((part) => part.trim()));
const EXCHANGES = envInt('UDNS_EXCHANGE_BENCH_EXCHANGES', 200);
const BUYERS = envInt('UDNS_EXCHANGE_BENCH_BUYERS', 8);
const SMALL_BYTES = envInt('UDNS_EXCHANGE_BENCH_SMALL_KIB', 64) * 1024;

/** One timed run over `bytes` bytes. */
interface Sample {
  seconds: number;
  cpuSeconds: number;
}

/** What the file measurements share: the file, its size, a sale key and the offer's commitment. */
interface BenchFile {
  file: string;
  size: number;
  key: Buffer;
  commitment: SealedCommitment;
}

interface Measurement {
  name: string;
  /** What it stands for, for the report. */
  label: string;
  run(input: BenchFile): Promise<void>;
}

function repoRoot(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'bench'))) return dir;
  }
  throw new Error('cannot find the udns checkout (package.json next to bench/)');
}

/** Fresh random bytes: nothing can shrink or dedupe them. */
function writeRandomFile(file: string, bytes: number): void {
  const chunk = Buffer.alloc(Math.min(WRITE_CHUNK_BYTES, Math.max(1, bytes)));
  const fd = fs.openSync(file, 'w');
  try {
    for (let left = bytes; left > 0; left -= chunk.length) {
      const size = Math.min(left, chunk.length);
      randomFillSync(chunk, 0, size);
      fs.writeSync(fd, chunk, 0, size);
    }
  } finally {
    fs.closeSync(fd);
  }
}

async function timed(work: () => Promise<void> | void): Promise<Sample> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  await work();
  const used = process.cpuUsage(cpu);
  return { seconds: (performance.now() - started) / 1000, cpuSeconds: (used.user + used.system) / 1e6 };
}

function toDevNull(stream: Readable): Promise<void> {
  return pipeline(stream, fs.createWriteStream('/dev/null'));
}

/** Baseline: a free file served plainly, hashed on the way (SHA-256 + stream to /dev/null). */
async function measurePlainRead({ file }: BenchFile): Promise<void> {
  const hash = createHash('sha256');
  const stream = fs.createReadStream(file, { highWaterMark: CHUNK_BYTES });
  stream.on('data', (piece) => hash.update(piece));
  await toDevNull(stream);
  hash.digest();
}

/** The seller's offer: seal every chunk once to commit to the ciphertext (commitSealed). */
async function measureSealedCommit({ file, key }: BenchFile): Promise<void> {
  await commitSealed(file, key, SALE_ID);
}

/** The seller serving the sale: seal again while streaming (sealedStream to /dev/null). */
async function measureSealedServe({ file, key, size }: BenchFile): Promise<void> {
  await toDevNull(sealedStream(file, key, SALE_ID, size));
}

/**
 * The buyer: check every sealed chunk as it arrives (SealedChunkChecker), then open each and
 * check it against the plain leaves and the whole file's SHA-256 (here in one pass, in memory).
 */
async function measureBuyerCheckAndOpen({ file, key, size, commitment }: BenchFile): Promise<void> {
  const checker = new SealedChunkChecker(size, commitment.cipherLeaves);
  const count = chunkCount(size);
  const whole = createHash('sha256');
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let index = 0;
  for await (const piece of sealedStream(file, key, SALE_ID, size) as AsyncIterable<Buffer>) {
    checker.push(piece);
    pending.push(piece);
    pendingBytes += piece.length;
    while (index < count) {
      const length = sealedOffsetOfChunk(size, index + 1) - sealedOffsetOfChunk(size, index);
      if (pendingBytes < length) break;
      const joined = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
      const plain = openChunk(key, SALE_ID, index, count, joined.subarray(0, length));
      if (!plain || !leafHash(plain).equals(commitment.plainLeaves[index]!)) throw new Error(`chunk ${index} did not open`);
      whole.update(plain);
      pending = joined.length > length ? [joined.subarray(length)] : [];
      pendingBytes -= length;
      index += 1;
    }
  }
  checker.finish();
  if (whole.digest('hex') !== commitment.sha256) throw new Error('the opened file does not match its SHA-256');
}

const MEASUREMENTS: Measurement[] = [
  { name: 'plainRead', label: 'plain: SHA-256 + stream', run: measurePlainRead },
  { name: 'sealedCommit', label: 'seller: commitSealed', run: measureSealedCommit },
  { name: 'sealedServe', label: 'seller: sealedStream', run: measureSealedServe },
  { name: 'buyerCheckOpen', label: 'buyer: check + open', run: measureBuyerCheckAndOpen },
];

/** Bytes per AEAD sample: many short samples, so the best one shows the uncontended speed. */
const AEAD_SAMPLE_BYTES = 8 * CHUNK_BYTES;

/** Seals AEAD_BYTES as 1 MiB chunks in memory with `algorithm`, as sealChunk does, timed per AEAD_SAMPLE_BYTES. */
async function measureAead(algorithm: 'aes-256-gcm' | 'chacha20-poly1305'): Promise<Sample[]> {
  const plain = randomBytes(CHUNK_BYTES);
  const key = randomBytes(32);
  const aad = Buffer.alloc(14 + 32 + 16);
  const samples: Sample[] = [];
  for (let done = 0; done < AEAD_BYTES; done += AEAD_SAMPLE_BYTES) {
    samples.push(await timed(() => {
      for (let index = 0; index < AEAD_SAMPLE_BYTES / CHUNK_BYTES; index += 1) {
        const nonce = Buffer.alloc(12);
        nonce.writeUInt32BE(index, 8);
        const cipher = algorithm === 'aes-256-gcm'
          ? createCipheriv(algorithm, key, nonce, { authTagLength: 16 })
          : createCipheriv(algorithm, key, nonce, { authTagLength: 16 });
        cipher.setAAD(aad, { plaintextLength: plain.length });
        Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      }
    }));
  }
  return samples;
}

interface Summary {
  label: string;
  samples: Sample[];
  medianMBps: number;
  bestMBps: number;
  medianMBperCpuSecond: number;
}

function summarise(label: string, bytes: number, samples: Sample[]): Summary {
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
  const rates = samples.map((s) => bytes / 1e6 / s.seconds);
  return {
    label,
    samples,
    medianMBps: median(rates),
    bestMBps: Math.max(...rates),
    medianMBperCpuSecond: median(samples.map((s) => bytes / 1e6 / s.cpuSeconds)),
  };
}

function formatReport(size: number, results: Record<string, Summary>, aead: Record<string, Summary>): string {
  const row = (s: Summary) => `${s.label.padEnd(26)} ${s.medianMBps.toFixed(0).padStart(8)} ${s.bestMBps.toFixed(0).padStart(8)} ${s.medianMBperCpuSecond.toFixed(0).padStart(12)}`;
  const lines = [`sealing a ${(size / 2 ** 20).toFixed(0)} MiB file (${chunkCount(size)} chunks of 1 MiB), ${ROUNDS} rounds interleaved`];
  lines.push(`${'measurement'.padEnd(26)} ${'MB/s med'.padStart(8)} ${'MB/s best'.padStart(8)} ${'MB/cpu-s med'.padStart(12)}`);
  for (const summary of Object.values(results)) lines.push(row(summary));
  const plain = results.plainRead!;
  const seller = 1 / results.sealedCommit!.medianMBps + 1 / results.sealedServe!.medianMBps;
  const servingOnly = 1 / results.sealedServe!.medianMBps;
  const buyer = 1 / results.buyerCheckOpen!.medianMBps;
  const base = 1 / plain.medianMBps;
  lines.push(`seller per sale (commit + serve): ${(1 / seller).toFixed(0)} MB/s, ${(seller / base).toFixed(2)}× the plain read's time`);
  lines.push(`serving alone (sealedStream):     ${(1 / servingOnly).toFixed(0)} MB/s, ${(servingOnly / base).toFixed(2)}× the plain read's time`);
  lines.push(`buyer (check + open):             ${(1 / buyer).toFixed(0)} MB/s, ${(buyer / base).toFixed(2)}× the plain read's time`);
  lines.push('');
  lines.push(`AEAD per 1 MiB chunk, ${(AEAD_BYTES / 2 ** 20).toFixed(0)} MiB in memory × ${ROUNDS} rounds, timed per ${AEAD_SAMPLE_BYTES / 2 ** 20} MiB (best = uncontended)`);
  for (const summary of Object.values(aead)) lines.push(row(summary));
  return lines.join('\n');
}

async function main(): Promise<number> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-exchange-bench-'));
  const cleanup = () => fs.rmSync(workDir, { recursive: true, force: true });
  process.on('exit', cleanup);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => process.exit(130));
  const startedAt = new Date().toISOString();
  const loadBefore = os.loadavg();

  const file = path.join(workDir, 'paid.bin');
  progress(`writing ${(FILE_BYTES / 2 ** 20).toFixed(0)} MiB of random bytes`);
  writeRandomFile(file, FILE_BYTES);
  let results: Record<string, Summary> | undefined;
  let aead: Record<string, Summary> | undefined;
  let report = '';
  if (PARTS.has('sealing')) {
    const key = randomBytes(32);
    const commitment = await commitSealed(file, key, SALE_ID); // also warms the page cache
    const input: BenchFile = { file, size: FILE_BYTES, key, commitment };

    const samples: Record<string, Sample[]> = Object.fromEntries(MEASUREMENTS.map((m) => [m.name, []]));
    for (let round = 1; round <= ROUNDS; round += 1) {
      for (const measurement of MEASUREMENTS) {
        const sample = await timed(() => measurement.run(input));
        samples[measurement.name]!.push(sample);
        progress(`round ${round}/${ROUNDS} ${measurement.label}: ${(FILE_BYTES / 1e6 / sample.seconds).toFixed(0)} MB/s`);
      }
    }
    results = Object.fromEntries(MEASUREMENTS.map((m) => [m.name, summarise(m.label, FILE_BYTES, samples[m.name]!)]));

    const aeadSamples: Record<string, Sample[]> = { 'aes-256-gcm': [], 'chacha20-poly1305': [] };
    for (let round = 1; round <= ROUNDS; round += 1) {
      for (const algorithm of ['aes-256-gcm', 'chacha20-poly1305'] as const) aeadSamples[algorithm]!.push(...(await measureAead(algorithm)));
    }
    aead = Object.fromEntries(Object.entries(aeadSamples).map(([name, list]) => [name, summarise(name, AEAD_SAMPLE_BYTES, list)]));
    report += `${formatReport(FILE_BYTES, results, aead)}\n`;
  }

  let edge: EdgeExchangeResult | undefined;
  if (PARTS.has('edge')) {
    const edgeDir = path.join(workDir, 'edge-run');
    fs.mkdirSync(edgeDir);
    edge = await measureThroughEdge({
      workDir: edgeDir, bigFile: file, exchanges: EXCHANGES, buyers: BUYERS, smallBytes: SMALL_BYTES, smallFiles: Math.min(16, EXCHANGES), progress,
    });
    report += `${report === '' ? '' : '\n'}${formatEdgeReport(edge)}\n`;
  }

  const loadAfter = os.loadavg();
  console.log(`\n${report}\nload before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(' ')}; ${os.cpus().length} cpus, ${os.cpus()[0]?.model ?? 'unknown cpu'}, node ${process.version}, OpenSSL ${process.versions.openssl}`);

  const resultsDir = path.join(repoRoot(), 'bench', 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  const out = path.join(resultsDir, `exchange-${startedAt.replace(/[:.]/g, '-')}.json`);
  const document = {
    startedAt,
    finishedAt: new Date().toISOString(),
    fileBytes: FILE_BYTES,
    rounds: ROUNDS,
    aeadBytes: AEAD_BYTES,
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, openssl: process.versions.openssl, loadBefore, loadAfter },
    sealing: results,
    aead,
    throughEdge: edge,
  };
  fs.writeFileSync(out, `${JSON.stringify(document, null, 2)}\n`);
  console.log(`results written to ${path.relative(process.cwd(), out) || out}`);
  return 0;
}

process.exitCode = await main();
