/** One log line a soak may see at warn or above, with the reason it is expected. */
export interface AllowedLine {
  /** Matched against the line's `msg` (JSON lines) or the whole line (plain text). */
  pattern: RegExp;
  /** Further fields the JSON line must have, e.g. `{ reason: /^control stream failed$/ }`. */
  fields?: Record<string, RegExp>;
  why: string;
}

/** What the audit of one program's stderr found. */
export interface LogAudit {
  lines: number;
  /** Lines by pino level name (plain text lines count as 'text'). */
  byLevel: Record<string, number>;
  /** Warn-or-worse lines that matched the allow-list, by pattern. */
  allowed: Record<string, number>;
  /** Warn-or-worse lines (and plain text lines) that did not: each one fails the soak. */
  unexpected: string[];
}

const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
const WARN = 40;

/**
 * Audits the stderr of a udns program: pino JSON lines at warn or above, and any line that is
 * not JSON at all (a Node warning such as DEP0137 "Closing a FileHandle on garbage collection",
 * a stack trace), are unexpected unless `allowed` names them. `plainAllowed` covers text lines
 * the program prints by design (the CLI's own `udns: …` notes).
 */
export function auditLog(text: string, allowed: readonly AllowedLine[], plainAllowed: readonly AllowedLine[] = []): LogAudit {
  const audit: LogAudit = { lines: 0, byLevel: {}, allowed: {}, unexpected: [] };
  // A line still being written when a process was killed is not a finding: only whole lines count.
  const whole = text.slice(0, text.lastIndexOf('\n') + 1);
  for (const line of whole.split('\n')) {
    if (line.trim() === '') continue;
    audit.lines++;
    let entry: { level?: number; msg?: string; [field: string]: unknown } | undefined;
    try {
      entry = line.startsWith('{') ? JSON.parse(line) as typeof entry : undefined;
    } catch {
      entry = undefined;
    }
    if (entry === undefined || typeof entry.level !== 'number') {
      audit.byLevel.text = (audit.byLevel.text ?? 0) + 1;
      const rule = plainAllowed.find((candidate) => candidate.pattern.test(line));
      if (rule) audit.allowed[rule.pattern.source] = (audit.allowed[rule.pattern.source] ?? 0) + 1;
      else audit.unexpected.push(line);
      continue;
    }
    const level = LEVEL_NAMES[entry.level] ?? String(entry.level);
    audit.byLevel[level] = (audit.byLevel[level] ?? 0) + 1;
    if (entry.level < WARN) continue;
    const fields = entry;
    const rule = allowed.find((candidate) => candidate.pattern.test(fields.msg ?? '')
      && Object.entries(candidate.fields ?? {}).every(([field, value]) => value.test(String(fields[field] ?? ''))));
    if (rule) audit.allowed[rule.pattern.source] = (audit.allowed[rule.pattern.source] ?? 0) + 1;
    else audit.unexpected.push(line);
  }
  return audit;
}
