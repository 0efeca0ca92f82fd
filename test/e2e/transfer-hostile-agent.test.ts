import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { newTicketSecrets } from '../../protocol/index.js';
import { eventually } from '../helpers/eventually.js';
import { HostileMuxAgent } from '../helpers/hostile-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';

/*
 * The transfer messages from an agent that does not play by the rules: the edge refuses them
 * with a protocol error or ignores them, never crashes, never hands a receiver a ticket the agent
 * did not take.
 */
describe('transfer messages from a hostile agent', () => {
  let edge: TestEdge;
  const key = 'ab'.repeat(32);

  beforeAll(async () => {
    edge = await startTestEdge();
  });
  afterAll(async () => {
    await edge?.close();
  });

  const askTicket = async (body: Record<string, unknown>): Promise<{ status: number; json: Record<string, unknown> }> => {
    const res = await fetch(`${edge.serverUrl}/api/v1/transfers`, {
      method: 'POST', headers: { authorization: `Bearer ${edge.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    return { status: res.status, json: await res.json() as Record<string, unknown> };
  };

  test('a second transfer port or key on one tunnel ends the tunnel with a protocol error', async () => {
    const agent = await HostileMuxAgent.connect(edge.serverUrl, edge.adminToken);
    await agent.hello();
    const registered = await agent.register(1, 'hostile-offer');
    agent.send({ type: 'offerTransfer', routeId: registered.routeId, port: 40001, key });
    agent.send({ type: 'offerTransfer', routeId: registered.routeId, port: 40002, key });
    const error = await agent.waitFor('error');
    expect(error).toMatchObject({ code: 'protocol_violation', message: expect.stringMatching(/one transfer port and key per tunnel/) });
    await agent.closed;
  });

  test('reports and answers for tickets never issued, offers for routes it does not hold: ignored, the tunnel lives on', async () => {
    const agent = await HostileMuxAgent.connect(edge.serverUrl, edge.adminToken);
    await agent.hello();
    const forged = newTicketSecrets().ticketId;
    agent.send({ type: 'offerTransfer', routeId: 'not-mine', port: 40003, key });
    agent.send({ type: 'transferAccepted', ticketId: forged });
    agent.send({ type: 'transferFailed', ticketId: forged, reason: 'busy' });
    agent.send({ type: 'transferServed', ticketId: forged, routeId: 'x', path: '/a', via: 'direct', bytes: 10, complete: true, startedAt: 1, endedAt: 2 });
    expect((await agent.register(2, 'hostile-alive')).type).toBe('routeRegistered');
    expect(agent.transport.destroyed).toBe(false);
    agent.destroy();
  });

  test('an agent that never takes its tickets: the receiver is sent through the relay, a forced direct path is refused', async () => {
    const agent = await HostileMuxAgent.connect(edge.serverUrl, edge.adminToken);
    await agent.hello();
    const registered = await agent.register(3, 'hostile-mute');
    // The agent answers the probe itself so the edge believes the port is reachable.
    const { createServer } = await import('node:http');
    const { directProof } = await import('../../protocol/index.js');
    const prober = createServer((req, res) => res.end(directProof(key, req.url!.split('/').pop()!)));
    await new Promise<void>((resolve) => prober.listen(0, '127.0.0.1', resolve));
    try {
      const port = (prober.address() as { port: number }).port;
      agent.send({ type: 'offerTransfer', routeId: registered.routeId, port, key });
      const url = `${registered.url as string}/file.bin`;
      await eventually('the probe', () => agent.messages.find((m) => m.type === 'transferChecked' && m.reachable === true));
      expect((await askTicket({ url })).json).toEqual({ via: 'relay' });
      const forced = await askTicket({ url, via: 'direct' });
      expect(forced.status).toBe(409);
      expect(forced.json.error).toMatchObject({ code: 'transfer_unavailable', message: expect.stringMatching(/did not take the ticket \(timeout\)/) });
      expect(agent.messages.filter((m) => m.type === 'transferTicket').length).toBe(2);
    } finally {
      prober.close();
      agent.destroy();
    }
  }, 30_000);
});
