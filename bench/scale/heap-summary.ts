/*
 * Compares two V8 heap snapshots (memory-probe.ts writes them with UDNS_SCALE_SNAPSHOT_DIR):
 * objects by constructor or kind, how many more and how many more bytes (self size) the second
 * holds, biggest first. `node dist/bench/scale/heap-summary.js before.heapsnapshot after.heapsnapshot [per]`
 * divides by `per` (say the number of streams opened in between) to print a cost per item.
 */
import fs from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Count and self size per "kind:name" (objects by constructor, closures, strings, code…). */
export function tally(file: string): Map<string, { count: number; bytes: number }> {
  const data = JSON.parse(fs.readFileSync(file, 'utf8')) as Snapshot;
  const fields = data.snapshot.meta.node_fields;
  const types = data.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const out = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < data.nodes.length; i += width) {
    const type = types[data.nodes[i + typeAt]!]!;
    let name = type === 'object' || type === 'closure' || type === 'native' ? data.strings[data.nodes[i + nameAt]!]! : '';
    if (name.length > 60) name = `${name.slice(0, 57)}...`;
    const key = `${type}:${name}`;
    const entry = out.get(key) ?? { count: 0, bytes: 0 };
    entry.count += 1;
    entry.bytes += data.nodes[i + sizeAt]!;
    out.set(key, entry);
  }
  return out;
}

function main(): void {
  const [beforeFile, afterFile, perText] = process.argv.slice(2);
  if (!beforeFile || !afterFile) throw new Error('usage: heap-summary <before.heapsnapshot> <after.heapsnapshot> [per]');
  const per = Number(perText ?? 1) || 1;
  const before = tally(beforeFile);
  const after = tally(afterFile);
  const rows = [...after].map(([key, value]) => {
    const was = before.get(key) ?? { count: 0, bytes: 0 };
    return { key, count: value.count - was.count, bytes: value.bytes - was.bytes };
  }).sort((a, b) => b.bytes - a.bytes);
  const total = rows.reduce((sum, row) => sum + row.bytes, 0);
  process.stdout.write(`self size grew ${(total / 1024 / 1024).toFixed(1)} MB, ${(total / per).toFixed(0)} B per item (${per})\n`);
  for (const row of rows.slice(0, 40)) {
    process.stdout.write(`${String(Math.round(row.bytes / per)).padStart(7)} B/item ${(row.count / per).toFixed(2).padStart(7)} /item  ${row.key}\n`);
  }
}

if (process.argv[1]?.endsWith('heap-summary.js')) main();
