import type { AgentTunnelStream, TransferReport, VisitorInfo } from '../../protocol/index.js';
import type { SaleDesk } from '../exchange/sale-desk.js';
import type { ListedShare } from '../index/listed-share.js';

/** A file response a share sent down a visitor stream, for the edge's transfer records. */
export type FileTransferReport = Omit<TransferReport, 'type' | 'routeId'>;

/** Serves the visitor streams of one route on the agent side. */
export interface RouteHandler {
  /** Takes over one visitor stream; answers its HEADERS (200, or an error status) itself. */
  handleStream(stream: AgentTunnelStream, visitor: VisitorInfo): void;
  /** Called once the edge has published the route, with its public URL. */
  published?(url: string): void;
  /** Where to report the files it serves over tunnel streams (shares only); set on each publish. */
  reportTransfers?(send: (report: FileTransferReport) => void): void;
  /** The share's entry in the members' index when it is listed (`--list`; shares only). */
  readonly listed?: ListedShare | null;
  /** The share's sale desk when it has prices (`--price`; shares only): answers `saleRequested`. */
  readonly sales?: SaleDesk | null;
  /** Frees what the handler holds (keep-alive sockets to the local service, servers). */
  close(): void;
}
