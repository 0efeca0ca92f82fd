import net from 'node:net';
import { TransferPath, UdnsError } from '../../protocol/index.js';
import { resolveCredentials, type EdgeTarget } from '../client-config.js';
import { ReceiverListener } from './receiver-listener.js';
import { TransferPaths } from './transfer-paths.js';

/** The `udns get` flags of the transfer paths. */
export interface TransferFlags {
  /** `--via`: force one path. */
  via?: TransferPath;
  /** `--receive-port`: the push listener's port (0: an ephemeral one). */
  receivePort: number;
}

/** A member's downloads over the best paths, one set of paths per file; `close()` when done. */
export interface MemberTransfers {
  /** `grantPath`: where the tickets come from when not `/api/v1/transfers` (a sale's sealed file). */
  forFile(url: URL, grantPath?: string): TransferPaths;
  close(): void;
}

/**
 * The transfer paths for files under `shareUrl` when the user is logged in to the edge that
 * serves it (saved login, or UDNS_SERVER/UDNS_TOKEN) and the URL is a name under that edge's
 * host; null otherwise: downloads then go through the edge as for any visitor (relay). A
 * forced direct or push path that cannot be asked for is an error that says why.
 */
export async function openMemberTransfers(shareUrl: URL, flags: TransferFlags, env: NodeJS.ProcessEnv, note: (line: string) => void): Promise<MemberTransfers | null> {
  const forced = flags.via;
  let edge: EdgeTarget;
  try {
    edge = resolveCredentials({}, env);
  } catch (error) {
    if (forced === undefined || forced === 'relay') return null;
    throw new UdnsError('config_invalid', `--via ${forced} needs a login to the share's edge (the edge hands out the tickets): ${(error as Error).message}`);
  }
  const edgeHost = new URL(edge.server).hostname.toLowerCase().replace(/^\[|\]$/g, '');
  // An edge reached by its IP address cannot say here which names are its own: it is asked,
  // and one that does not serve the URL answers bad_request (then relay).
  if (net.isIP(edgeHost) === 0 && !shareUrl.hostname.toLowerCase().endsWith(`.${edgeHost}`)) {
    if (forced === undefined || forced === 'relay') return null;
    throw new UdnsError('bad_request', `--via ${forced}: ${shareUrl.host} is not a share of ${edgeHost}, the edge you are logged in to`);
  }
  // Push needs our own listener (one for the whole command); direct and relay alone do not.
  const receiver = forced === undefined || forced === 'push' ? new ReceiverListener(flags.receivePort) : null;
  await receiver?.listen();
  return {
    forFile: (url, grantPath) => new TransferPaths(edge, url, receiver, forced, note, grantPath),
    close: () => receiver?.close(),
  };
}

/** Parses `--via`. */
export function parseVia(value: string): TransferPath {
  const parsed = TransferPath.safeParse(value);
  if (!parsed.success) throw new UdnsError('bad_request', `--via must be direct, push or relay, got "${value}"`);
  return parsed.data;
}
