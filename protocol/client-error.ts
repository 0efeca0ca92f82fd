/**
 * What of a node:http `clientError` may be logged: its code and message, never the error itself.
 * Node hangs the peer's raw bytes on it (`rawPacket`), Authorization headers and cookies
 * included, as a byte array that log redaction cannot see.
 */
export function clientErrorLogFields(error: NodeJS.ErrnoException): { code: string | undefined; reason: string } {
  return { code: error.code, reason: error.message };
}
