import type { ServerHttp2Stream } from 'node:http2';
import type { VisitorInfo } from '../../protocol/index.js';

/** Serves the visitor streams of one route on the agent side. */
export interface RouteHandler {
  /** Takes over one visitor stream; answers its HEADERS (200, or an error status) itself. */
  handleStream(stream: ServerHttp2Stream, visitor: VisitorInfo): void;
  /** Called once the edge has published the route, with its public URL. */
  published?(url: string): void;
  /** Frees what the handler holds (keep-alive sockets to the local service, servers). */
  close(): void;
}
