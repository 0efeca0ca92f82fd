import type { AgentLogger } from '../agent-logger.js';
import type { WebdavHandler } from './share-server.js';
import type { SharePolicy } from './share-paths.js';

/** WebDAV for `--webdav` (being built: answers 501 until then). */
export function createWebdavHandler(_policy: SharePolicy, _allowUpload: boolean, _logger: AgentLogger): WebdavHandler {
  return (_req, res) => {
    res.writeHead(501, { 'Content-Type': 'text/plain; charset=utf-8' }).end('WebDAV is not available yet\n');
  };
}
