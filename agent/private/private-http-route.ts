import { TunnelResetCode, type AgentTunnelStream, type VisitorInfo } from '../../protocol/index.js';
import type { HttpRoute } from '../routes/http-route.js';
import type { RouteHandler } from '../routes/route-handler.js';
import type { RouteMeter } from '../metrics/agent-metrics.js';

/**
 * A private http route (`udns http --private`): served like any http route, except the Host
 * check. Its visitors come only through `udns connect`, whose browsers and tools send the Host of
 * the member's local listener (`127.0.0.1:8000`), and the edge let them in by name and account,
 * not by Host: so any Host is accepted (as direct mode's visitors are), rewritten nowhere, and
 * passed on as X-Forwarded-Host. X-Forwarded-For still names the member's network.
 */
export class PrivateHttpRoute implements RouteHandler {
  constructor(private readonly route: HttpRoute) {}

  get target(): string {
    return this.route.target;
  }

  /** The agent's metrics meter (agent/metrics/) goes to the http route that talks to the origin. */
  get meter(): RouteMeter | null {
    return this.route.meter;
  }

  set meter(meter: RouteMeter | null) {
    this.route.meter = meter;
  }

  handleStream(stream: AgentTunnelStream, visitor: VisitorInfo): void {
    stream.respond({ ':status': 200 });
    this.route.serve(stream, visitor, () => stream.close(TunnelResetCode.INTERNAL_ERROR), false);
  }

  close(): void {
    this.route.close();
  }
}
