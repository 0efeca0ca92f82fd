import { expect, test } from 'vitest';
import { parseVisitorStreamHeaders, visitorStreamHeaders, type VisitorInfo } from '../../protocol/index.js';
import { RequestHeadRewriter, type RequestRejection } from './request-head-rewriter.js';

/*
 * Custom domains (server/domains/): the edge routes `shop.example.com` to alice's route and says
 * so in the visitor stream's headers; the agent then takes that Host beside its own name, and
 * still refuses every other one (421).
 */
const routed: VisitorInfo = { routeId: 'r', remoteAddress: '198.51.100.7', remotePort: 4000, scheme: 'https', host: 'shop.example.com', customHost: 'shop.example.com' };

async function rewrite(text: string, from: VisitorInfo): Promise<{ out: string; rejected: RequestRejection | null }> {
  const rewriter = new RequestHeadRewriter(from, 'alice.localhost');
  let rejected: RequestRejection | null = null;
  rewriter.on('rejected', (r: RequestRejection) => { rejected = r; });
  const out: Buffer[] = [];
  rewriter.on('data', (chunk: Buffer) => out.push(chunk));
  const ended = new Promise((resolve) => rewriter.on('end', resolve));
  rewriter.end(Buffer.from(text, 'latin1'));
  await ended;
  return { out: Buffer.concat(out).toString('latin1'), rejected };
}

test('the custom host travels in the stream headers; absent, it stays absent (older edges)', () => {
  expect(parseVisitorStreamHeaders(visitorStreamHeaders(routed) as never)).toEqual(routed);
  const { customHost: _, ...plain } = routed;
  expect(parseVisitorStreamHeaders(visitorStreamHeaders(plain) as never)).toEqual(plain);
});

test('a connection routed by its custom domain serves it (any case, with a port) and the name; other hosts get 421', async () => {
  const ok = await rewrite('GET /a HTTP/1.1\r\nHost: Shop.Example.com:443\r\n\r\nGET /b HTTP/1.1\r\nHost: alice.localhost\r\n\r\n', routed);
  expect(ok.rejected).toBeNull();
  expect(ok.out).toContain('GET /b ');
  const other = await rewrite('GET /a HTTP/1.1\r\nHost: shop.example.com\r\n\r\nGET /b HTTP/1.1\r\nHost: other.example.com\r\n\r\n', routed);
  expect(other.rejected).toMatchObject({ status: 421, firstRequest: false });
  // Without the edge's word, the custom domain is a foreign Host like any other.
  const { customHost: _, ...plain } = routed;
  expect((await rewrite('GET / HTTP/1.1\r\nHost: shop.example.com\r\n\r\n', plain)).rejected).toMatchObject({ status: 421, firstRequest: true });
});
