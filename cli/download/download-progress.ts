import cliProgress from 'cli-progress';

/** What a download tells the person watching it. */
export interface DownloadProgress {
  /** A transfer of `label` begins, or resumes at `done` bytes; `total` undefined when unknown (a ZIP). */
  start(label: string, total: number | undefined, done: number): void;
  update(done: number): void;
  /** A line about the transfer (retrying, starting over) that must not garble the bar. */
  note(line: string): void;
  /** The transfer ended with `done` bytes. */
  finish(done: number): void;
  /** Stops drawing without a final line (failure, Ctrl-C). */
  stop(): void;
}

/** How much progress to show, and where. */
export interface ProgressOptions {
  /** `--no-progress`: notes only. */
  enabled: boolean;
  /** stderr; a bar only when it is a terminal. */
  stream: NodeJS.WriteStream;
}

/**
 * A bar with size, speed and ETA when stderr is a terminal; otherwise one line when a
 * transfer starts and one when it ends, so logs and CI output are not flooded with redraws.
 */
export function createDownloadProgress(options: ProgressOptions): DownloadProgress {
  const write = (line: string): void => { options.stream.write(`udns: ${line}\n`); };
  if (!options.enabled) return { start() {}, update() {}, note: write, finish() {}, stop() {} };
  return options.stream.isTTY ? new TerminalBar(options.stream, write) : new LogLines(write);
}

/** Bytes per second over the last few seconds, for speed and ETA. */
class RateMeter {
  private samples: Array<{ at: number; done: number }> = [];

  constructor(private readonly windowMs = 5000) {}

  reset(done: number, at = Date.now()): void {
    this.samples = [{ at, done }];
  }

  add(done: number, at = Date.now()): number {
    this.samples.push({ at, done });
    while (this.samples.length > 2 && at - this.samples[1]!.at > this.windowMs) this.samples.shift();
    const first = this.samples[0]!;
    const seconds = (at - first.at) / 1000;
    return seconds > 0 ? Math.max(0, done - first.done) / seconds : 0;
  }
}

class LogLines implements DownloadProgress {
  private label: string | undefined;
  private startedAt = 0;
  private startDone = 0;

  constructor(private readonly write: (line: string) => void) {}

  start(label: string, total: number | undefined, done: number): void {
    this.label = label;
    this.startedAt = Date.now();
    this.startDone = done;
    const size = total === undefined ? 'size unknown' : formatBytes(total);
    this.write(done > 0 ? `resuming ${label} at ${formatBytes(done)} of ${size}` : `downloading ${label} (${size})`);
  }

  update(): void {}

  note(line: string): void {
    this.write(line);
  }

  finish(done: number): void {
    if (this.label === undefined) return;
    const seconds = Math.max(0.001, (Date.now() - this.startedAt) / 1000);
    this.write(`received ${this.label}: ${formatBytes(done)} in ${seconds.toFixed(1)} s (${formatBytes((done - this.startDone) / seconds)}/s)`);
    this.label = undefined;
  }

  stop(): void {
    this.label = undefined;
  }
}

interface BarPayload {
  label: string;
  total: number | undefined;
  speed: number;
}

class TerminalBar implements DownloadProgress {
  private readonly bar: cliProgress.SingleBar;
  private readonly meter = new RateMeter();
  private payload: BarPayload = { label: '', total: undefined, speed: 0 };
  private active = false;

  constructor(private readonly stream: NodeJS.WriteStream, private readonly write: (line: string) => void) {
    this.bar = new cliProgress.SingleBar({
      stream,
      hideCursor: true,
      clearOnComplete: false,
      // Our own Ctrl-C handler stops the bar and says how to resume.
      gracefulExit: false,
      barsize: 30,
      format: (barOptions, params, payload: BarPayload) => renderLine(barOptions, params, payload),
    }, cliProgress.Presets.shades_classic);
  }

  start(label: string, total: number | undefined, done: number): void {
    this.stop();
    this.payload = { label, total, speed: 0 };
    this.meter.reset(done);
    this.bar.start(total ?? 0, done, this.payload);
    this.active = true;
  }

  update(done: number): void {
    this.payload.speed = this.meter.add(done);
    this.bar.update(done, this.payload);
  }

  note(line: string): void {
    if (!this.active) {
      this.write(line);
      return;
    }
    this.stream.write('\r\u001b[2K');
    this.write(line);
    this.bar.render();
  }

  finish(done: number): void {
    this.bar.update(done, this.payload);
    this.stop();
  }

  stop(): void {
    if (!this.active) return;
    this.active = false;
    this.bar.stop();
  }
}

function renderLine(barOptions: cliProgress.Options, params: cliProgress.Params, payload: BarPayload): string {
  const speed = `${formatBytes(payload.speed)}/s`;
  if (payload.total === undefined || payload.total === 0) return `${payload.label}  ${formatBytes(params.value)}  ${speed}`;
  const progress = Math.min(1, params.value / payload.total);
  const bar = cliProgress.Format.BarFormat(progress, barOptions);
  const eta = payload.speed > 0 ? formatDuration((payload.total - params.value) / payload.speed) : '--';
  return `${payload.label} ${bar} ${Math.floor(progress * 100)}% | ${formatBytes(params.value)} / ${formatBytes(payload.total)} | ${speed} | ETA ${eta}`;
}

/** `1.5 GiB`, `340 KiB`, `12 B`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** `42s`, `3m05s`, `2h10m`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
