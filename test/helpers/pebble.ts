import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { makeTestCertificates } from './test-certificates.js';
import { closedPort } from './origins.js';

/** A running pebble (Debian's `/usr/bin/pebble`), Let's Encrypt's test ACME server. */
export interface Pebble {
  /** `https://127.0.0.1:<port>/dir` */
  directoryUrl: string;
  /** File of the CA that signed pebble's own HTTPS certificate (for `--acme-ca`). */
  httpsCaFile: string;
  /** The root that signs issued certificates, from the management interface. */
  issuingRoot(): Promise<string>;
  /** Everything pebble printed. */
  output(): string;
  stop(): Promise<void>;
}

/** A port free for both TCP and UDP on 127.0.0.1 right now (DNS listens on both). */
export async function freeDnsPort(): Promise<number> {
  for (;;) {
    const server = net.createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const socket = dgram.createSocket('udp4');
    const udpFree = await new Promise<boolean>((resolve) => {
      socket.once('error', () => resolve(false));
      socket.bind(port, '127.0.0.1', () => resolve(true));
    });
    socket.close();
    await new Promise((resolve) => server.close(resolve));
    if (udpFree) return port;
  }
}


/**
 * Starts pebble on free loopback ports with a generated config, validating DNS-01 against
 * `dnsServer` (`127.0.0.1:<port>`), without its random sleeps and nonce rejections.
 * `httpPort`: where it fetches HTTP-01 answers (an edge's HTTP port); a closed port by default.
 */
export async function startPebble(dnsServer: string, options: { httpPort?: number } = {}): Promise<Pebble> {
  const certs = makeTestCertificates('localhost');
  const [listenPort, managementPort, httpPort, tlsPort] = [await closedPort(), await closedPort(), options.httpPort ?? await closedPort(), await closedPort()];
  const configFile = path.join(certs.dir, 'pebble-config.json');
  fs.writeFileSync(configFile, JSON.stringify({
    pebble: {
      listenAddress: `127.0.0.1:${listenPort}`,
      managementListenAddress: `127.0.0.1:${managementPort}`,
      certificate: certs.certFile,
      privateKey: certs.keyFile,
      httpPort,
      tlsPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
    },
  }));
  const child: ChildProcess = spawn('pebble', ['-config', configFile, '-dnsserver', dnsServer], {
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += String(chunk);
      if (output.includes(`Listening on: 127.0.0.1:${listenPort}`)) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`pebble exited (${code}): ${output}`)));
    setTimeout(() => reject(new Error(`pebble did not start: ${output}`)), 10_000).unref();
  });
  return {
    directoryUrl: `https://127.0.0.1:${listenPort}/dir`,
    httpsCaFile: certs.caFile,
    issuingRoot: () => new Promise((resolve, reject) => {
      https.get({ host: '127.0.0.1', port: managementPort, path: '/roots/0', ca: certs.ca, agent: false }, (res) => {
        let body = '';
        res.on('data', (chunk) => { body += chunk; });
        res.on('end', () => resolve(body));
      }).on('error', reject);
    }),
    output: () => output,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
