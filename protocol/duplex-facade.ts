import { Duplex } from 'node:stream';

/**
 * A plain JS Duplex in front of another stream, for consumers that drive native streams in
 * ways Node 20 cannot take: http2 over an upgraded TLSSocket (mux-session.ts) and the HTTP
 * server over an Http2Stream (the agent's shares). Bytes pass one write at a time, reading
 * pauses the inner stream while the facade's buffer is full, ending ends it.
 *
 * `passErrors`: whether destroying the facade with an error destroys the inner stream with it
 * (an Http2Stream then resets with INTERNAL_ERROR); otherwise the inner stream is destroyed plainly.
 */
export function duplexFacade(inner: Duplex, options: { passErrors: boolean }): Duplex {
  const facade = new Duplex({
    allowHalfOpen: true,
    read() {
      inner.resume();
    },
    write(chunk: Buffer, _encoding, done) {
      inner.write(chunk, done);
    },
    final(done) {
      inner.end();
      done();
    },
    destroy(error, done) {
      if (!inner.destroyed) inner.destroy(options.passErrors && !inner.writableEnded ? error ?? undefined : undefined);
      done(error);
    },
  });
  inner.on('data', (chunk: Buffer) => {
    if (!facade.push(chunk)) inner.pause();
  });
  inner.on('end', () => facade.push(null));
  inner.on('close', () => facade.destroy());
  return facade;
}
