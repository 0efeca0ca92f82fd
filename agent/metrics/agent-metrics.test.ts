import { describe, expect, test } from 'vitest';
import { createAgentLogger } from '../agent-logger.js';
import { PrivateHttpRoute } from '../private/private-http-route.js';
import { HttpRoute } from '../routes/http-route.js';
import { TcpRoute } from '../routes/tcp-route.js';
import type { ManagedRoute } from '../tunnel-connector.js';
import { AGENT_METRICS_MAX_ROUTES, AgentMetrics } from './agent-metrics.js';

const log = createAgentLogger('silent');

describe('AgentMetrics', () => {
  test('a private http route\'s meter reaches the http route that talks to the origin', () => {
    const metrics = new AgentMetrics({ defaultMetrics: false });
    const inner = new HttpRoute('127.0.0.1', 3000, log);
    const route: ManagedRoute = { kind: 'http', name: 'nas', target: inner.target, handler: new PrivateHttpRoute(inner) };
    const meter = metrics.meterOf(route);
    expect(inner.meter).toBe(meter);
    expect(meter).toMatchObject({ kind: 'http', route: 'nas' });
  });

  test('routes past the cap share the label "other"; one route keeps one meter', async () => {
    const metrics = new AgentMetrics({ defaultMetrics: false });
    const routes: ManagedRoute[] = [];
    for (let port = 1; port <= AGENT_METRICS_MAX_ROUTES + 5; port++) {
      const handler = new TcpRoute('127.0.0.1', port, log);
      routes.push({ kind: 'tcp', target: handler.target, handler });
    }
    for (const route of routes) metrics.meterOf(route).streamsTotal++;
    expect(metrics.meterOf(routes[0]!)).toBe(metrics.meterOf(routes[0]!));
    const text = await metrics.text();
    expect(text).toContain('udns_agent_visitor_streams_total{route="127.0.0.1:1",kind="tcp"} 1');
    expect(text).toContain('udns_agent_visitor_streams_total{route="other",kind="tcp"} 5');
    expect(text.split('\n').filter((line) => line.startsWith('udns_agent_visitor_streams_total{'))).toHaveLength(AGENT_METRICS_MAX_ROUTES + 1);
  });
});
