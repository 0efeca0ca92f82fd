import dgram from 'node:dgram';
import { once } from 'node:events';
import dns2 from 'dns2';

const { Packet } = dns2;
type RecordType = 'A' | 'AAAA' | 'CNAME' | 'TXT';

/**
 * "The internet's DNS" for custom-domain tests, on loopback UDP: answers from its own table
 * (a member's domain such as example.com: TXT, CNAME, A, AAAA, CNAMEs chased within the table
 * as a recursive resolver would), and relays every other question for `forwardSuffix` (the
 * edge's zone) to the edge's own DNS, so pebble and the edge can both use it as their only resolver.
 */
export interface DomainDns {
  port: number;
  /** `127.0.0.1:<port>`, for `--domain-resolver` and pebble's `-dnsserver`. */
  address: string;
  set(name: string, type: RecordType, values: string[]): void;
  delete(name: string, type: RecordType): void;
  /** Where questions under the forwarded suffix go (the edge's DNS port, known once it runs). */
  forwardTo(port: number): void;
  close(): Promise<void>;
}

export async function startDomainDns(forwardSuffix: string): Promise<DomainDns> {
  const records = new Map<string, Map<RecordType, string[]>>();
  let forwardPort: number | null = null;
  const socket = dgram.createSocket('udp4');
  socket.on('error', () => {});

  const resource = (name: string, type: RecordType, value: string): dns2.Packet.Resource => {
    const base = { name, type: Packet.TYPE[type], class: Packet.CLASS.IN, ttl: 1 };
    if (type === 'CNAME') return { ...base, domain: value } as dns2.Packet.Resource;
    if (type === 'TXT') return { ...base, data: [value] } as dns2.Packet.Resource;
    return { ...base, address: value } as dns2.Packet.Resource;
  };

  const relay = (bytes: Buffer, from: dgram.RemoteInfo): void => {
    const upstream = dgram.createSocket('udp4');
    upstream.on('error', () => upstream.close());
    upstream.once('message', (answer) => {
      socket.send(answer, from.port, from.address);
      upstream.close();
    });
    setTimeout(() => { try { upstream.close(); } catch { /* closed already */ } }, 3000).unref();
    upstream.send(bytes, forwardPort!, '127.0.0.1');
  };

  socket.on('message', (bytes, from) => {
    let request: dns2.Packet;
    try {
      request = Packet.parse(bytes);
    } catch {
      return;
    }
    const question = request.questions[0];
    if (question === undefined) return;
    const name = question.name.toLowerCase().replace(/\.$/, '');
    if (!records.has(name) && (name === forwardSuffix || name.endsWith(`.${forwardSuffix}`)) && forwardPort !== null) {
      relay(bytes, from);
      return;
    }
    const type = Packet.TYPE_NAME[question.type] as RecordType;
    const response = new Packet();
    response.header = new Packet.Header({ id: request.header.id, qr: 1, opcode: 0, rd: request.header.rd, ra: 1, rcode: 0 });
    response.questions = [question];
    let owner = name;
    // Chase CNAMEs within the table, as a recursive resolver answers an A question.
    for (let hops = 0; hops < 8; hops++) {
      const here = records.get(owner);
      const values = here?.get(type);
      if (values !== undefined) {
        for (const value of values) response.answers.push(resource(owner, type, value));
        break;
      }
      const alias = here?.get('CNAME');
      if (alias === undefined || type === 'CNAME') break;
      response.answers.push(resource(owner, 'CNAME', alias[0]!));
      owner = alias[0]!.toLowerCase();
    }
    if (response.answers.length === 0 && !records.has(name)) response.header.rcode = Packet.RCODE.NXDOMAIN;
    socket.send(response.toBuffer(), from.port, from.address);
  });

  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const port = socket.address().port;
  return {
    port,
    address: `127.0.0.1:${port}`,
    set(name, type, values) {
      const key = name.toLowerCase();
      if (!records.has(key)) records.set(key, new Map());
      records.get(key)!.set(type, values);
    },
    delete(name, type) {
      const here = records.get(name.toLowerCase());
      here?.delete(type);
      if (here?.size === 0) records.delete(name.toLowerCase());
    },
    forwardTo(edgePort) { forwardPort = edgePort; },
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}
