import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startAgent, type Agent } from '../../agent/agent.js';
import { MAX_TRANSFERS_PER_RECEIVER, MAX_TRANSFERS_PER_SHARE, pskClientOptions, type TransferGrant } from '../../protocol/index.js';
import { eventually } from '../helpers/eventually.js';
import { runCli } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';

/*
 * One member must not be able to degrade the other members' paths to a share: tickets asked
 * for and never used, or connections held open, by one account leave the direct path open to
 * the others. Loopback, real edge and agent in this process, the real `udns get` as a process
 * (run `npx tsc -p tsconfig.build.json` first).
 */

/** Opens a TLS-PSK connection; rejects with the handshake's error. */
function connectPsk(port: number, ticketId: string, psk: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ...pskClientOptions(ticketId, psk) });
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
  });
}

describe('one member cannot make a share refuse the others', () => {
  let edge: TestEdge;
  let work: string;
  let shared: string;
  let hoarder: string;
  const agents: Agent[] = [];
  const sockets: tls.TLSSocket[] = [];

  const askTicket = async (token: string, body: Record<string, unknown>): Promise<{ status: number; json: Record<string, unknown> }> => {
    const res = await fetch(`${edge.serverUrl}/api/v1/transfers`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    return { status: res.status, json: await res.json() as Record<string, unknown> };
  };
  /** A share of its own per test: one test's tickets and connections do not count in another. */
  const share = async (name: string): Promise<Agent> => {
    const agent = await startAgent({ serverUrl: edge.serverUrl, token: edge.adminToken, routes: [{ kind: 'share', dir: shared, name }] });
    agents.push(agent);
    return agent;
  };
  /** The first direct grant once the edge found the share's transfer port reachable. */
  const firstDirect = (token: string, url: string): Promise<TransferGrant> => eventually('the edge to find the transfer port reachable', async () => {
    const { status, json } = await askTicket(token, { url, via: 'direct' });
    return status === 200 ? json as TransferGrant : undefined;
  }, { timeoutMs: 10_000, intervalMs: 100 });
  const getDirect = (agent: Agent, name: string) => runCli(['get', `${agent.routes[0]!.url}/a.txt`, '-o', path.join(work, name), '--no-progress', '--via', 'direct'], {
    UDNS_SERVER: edge.serverUrl, UDNS_TOKEN: edge.adminToken,
  });

  beforeAll(async () => {
    edge = await startTestEdge();
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-ticket-fairness-'));
    shared = path.join(work, 'shared');
    fs.mkdirSync(shared);
    fs.writeFileSync(path.join(shared, 'a.txt'), 'a\n');
    fs.writeFileSync(path.join(shared, 'b.txt'), 'b\n');
    hoarder = await edge.createAccount('hoarder');
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    for (const agent of agents) agent.stop();
    await edge?.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  test('regression: a member who asks for more tickets than the share serves at once, without connecting, does not push another member\'s udns get off the direct path', async () => {
    const agent = await share('armed');
    const url = `${agent.routes[0]!.url}/a.txt`;
    const grants: TransferGrant[] = [await firstDirect(hoarder, url)];
    for (let i = 1; i < MAX_TRANSFERS_PER_SHARE + 2; i++) {
      const file = i % 2 === 0 ? 'a.txt' : 'b.txt';
      grants.push((await askTicket(hoarder, { url: `${agent.routes[0]!.url}/${file}`, via: 'direct' })).json as TransferGrant);
    }

    const result = await getDirect(agent, 'other.txt');
    expect(result.stderr).toMatch(/transferred via direct\n/);
    expect(result.code).toBe(0);
    expect(fs.readFileSync(path.join(work, 'other.txt'), 'utf8')).toBe('a\n');

    // The hoarder got each ticket, but its newer ones replaced its older ones: those are refused.
    expect(grants.map((grant) => grant.via)).toEqual(grants.map(() => 'direct'));
    const [oldest, newest] = [grants[0]!, grants.at(-1)!];
    if (oldest.via !== 'direct' || newest.via !== 'direct') throw new Error('direct grants expected');
    await expect(connectPsk(oldest.port, oldest.ticketId, oldest.psk)).rejects.toThrow(/ERR_SSL|alert|handshake/i);
    sockets.push(await connectPsk(newest.port, newest.ticketId, newest.psk));
  }, 60_000);

  test('regression: a member holding connections open keeps at most half the share\'s slots: another member still goes direct', async () => {
    const agent = await share('held');
    const url = `${agent.routes[0]!.url}/a.txt`;
    // The hoarder tries to hold every connection the share serves, each ticket used at once.
    const held: tls.TLSSocket[] = [];
    const refusals: string[] = [];
    let grant = await firstDirect(hoarder, url);
    for (let i = 0; i < MAX_TRANSFERS_PER_SHARE; i++) {
      if (i > 0) {
        const answer = await askTicket(hoarder, { url, via: 'direct' });
        if (answer.status !== 200) {
          refusals.push((answer.json.error as { message: string }).message);
          continue;
        }
        grant = answer.json as TransferGrant;
      }
      if (grant.via !== 'direct') throw new Error(`expected a direct grant, got ${JSON.stringify(grant)}`);
      const socket = await connectPsk(grant.port, grant.ticketId, grant.psk);
      sockets.push(socket);
      held.push(socket);
    }

    const result = await getDirect(agent, 'other-2.txt');
    expect(result.stderr).toMatch(/transferred via direct\n/);
    expect(fs.readFileSync(path.join(work, 'other-2.txt'), 'utf8')).toBe('a\n');
    expect(held).toHaveLength(MAX_TRANSFERS_PER_RECEIVER);
    expect(refusals).toEqual(refusals.map(() => expect.stringMatching(/did not take the ticket \(busy\)/)));

    // Closing one connection gives its slot back.
    held.pop()!.destroy();
    await eventually('the hoarder\'s slot to come back', async () => (await askTicket(hoarder, { url, via: 'direct' })).status === 200 || undefined, { timeoutMs: 10_000, intervalMs: 200 });
  }, 60_000);
});
