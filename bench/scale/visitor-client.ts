/*
 * The visitors of `npm run bench:scale`, in their own process (so their memory is not the
 * edge's). Started with one JSON argument (VisitorClientOptions); speaks JSON lines on stdout
 * and takes commands as signals (the bench's process helper keeps no stdin writer); it exits
 * when its stdin closes (the bench ended):
 *
 * - mode `ws`: opens `count` WebSockets to the edge in batches of `batch`, each from one of
 *   `sources` loopback addresses (127.0.0.2, 127.0.0.3, …: each a network of its own for the
 *   edge's per-network limit), prints `{"event":"opened",…}`; then one message goes out on
 *   every socket and prints `{"event":"echoed",…}` once every echo came back (SIGUSR1); SIGUSR2
 *   closes them all and prints `{"event":"closed"}`.
 * - mode `churn`: `total` short HTTP requests, each on a new connection (`Connection: close`),
 *   `concurrency` at a time, spread over the same source addresses; prints progress and
 *   `{"event":"churned",…}`.
 */
import net from 'node:net';
import WebSocket from 'ws';

export interface VisitorClientOptions {
  mode: 'ws' | 'churn';
  port: number;
  host: string;
  sources: number;
  count?: number;
  batch?: number;
  total?: number;
  concurrency?: number;
}

const options = JSON.parse(process.argv[2] ?? '{}') as VisitorClientOptions;
const say = (event: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(event)}\n`);
const sourceOf = (index: number): string => `127.0.${2 + Math.floor((index % options.sources) / 250)}.${2 + ((index % options.sources) % 250)}`;

function openWebSocket(index: number): Promise<WebSocket | string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${options.port}/`, {
      headers: { host: options.host },
      localAddress: sourceOf(index),
      perMessageDeflate: false,
      handshakeTimeout: 30_000,
    });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      resolve(`HTTP ${res.statusCode}`);
      ws.terminate();
    });
    ws.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    ws.on('error', () => {});
  });
}

async function runWebSockets(): Promise<void> {
  const count = options.count ?? 1000;
  const batch = options.batch ?? 500;
  const open: WebSocket[] = [];
  const failures = new Map<string, number>();
  const started = Date.now();
  for (let first = 0; first < count; first += batch) {
    const outcomes = await Promise.all(Array.from({ length: Math.min(batch, count - first) }, (_, i) => openWebSocket(first + i)));
    for (const outcome of outcomes) {
      if (typeof outcome === 'string') failures.set(outcome, (failures.get(outcome) ?? 0) + 1);
      else open.push(outcome);
    }
  }
  let lost = 0;
  for (const ws of open) ws.once('close', () => { lost += 1; });
  say({ event: 'opened', open: open.length, failures: Object.fromEntries(failures), seconds: (Date.now() - started) / 1000 });

  const echo = async (): Promise<void> => {
    const began = Date.now();
    const payload = Buffer.alloc(32, 'e');
    const answers = await Promise.all(open.map((ws) => new Promise<boolean>((resolve) => {
      if (ws.readyState !== WebSocket.OPEN) return resolve(false);
      const timer = setTimeout(() => { ws.off('message', onMessage); resolve(false); }, 60_000);
      const onMessage = (data: Buffer): void => {
        clearTimeout(timer);
        resolve(Buffer.compare(Buffer.from(data), payload) === 0);
      };
      ws.once('message', onMessage);
      ws.send(payload);
    })));
    say({ event: 'echoed', echoed: answers.filter(Boolean).length, of: open.length, lost, seconds: (Date.now() - began) / 1000 });
  };
  process.on('SIGUSR1', () => void echo());
  process.on('SIGUSR2', () => {
    for (const ws of open) ws.terminate();
    say({ event: 'closed' });
  });
}

function shortRequest(index: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ port: options.port, host: '127.0.0.1', localAddress: sourceOf(index) });
    let head = '';
    socket.setTimeout(30_000, () => socket.destroy(new Error('timeout')));
    socket.on('connect', () => socket.write(`GET / HTTP/1.1\r\nHost: ${options.host}\r\nConnection: close\r\n\r\n`));
    socket.on('data', (chunk) => { if (head.length < 16) head += chunk.toString('latin1'); });
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    socket.on('close', () => resolve(head.slice(0, 12)));
  });
}

async function runChurn(): Promise<void> {
  const total = options.total ?? 10_000;
  const concurrency = options.concurrency ?? 100;
  const outcomes = new Map<string, number>();
  const started = Date.now();
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      const index = next++;
      const outcome = await shortRequest(index);
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      done += 1;
      if (done % 10_000 === 0) say({ event: 'progress', done, seconds: (Date.now() - started) / 1000 });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  say({ event: 'churned', total, outcomes: Object.fromEntries(outcomes), seconds: (Date.now() - started) / 1000 });
}

if (options.mode === 'ws') void runWebSockets();
else void runChurn();
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
