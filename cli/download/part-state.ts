import fs from 'node:fs';
import { z } from 'zod';

/**
 * What a later run needs to continue `<name>.part`: which URL it came from and which version
 * of the file (its validator), so a resumed download asks for the rest of the same bytes
 * (`If-Range`) and starts over when the file changed.
 */
export const PartState = z.object({
  url: z.string(),
  /** The `ETag` of the version being downloaded; absent when the server sent none. */
  etag: z.string().optional(),
  /** `Last-Modified`, the weaker validator used when there is no ETag. */
  lastModified: z.string().optional(),
  /** Total size in bytes when the server said (Content-Length / Content-Range). */
  size: z.number().int().nonnegative().optional(),
}).strict();
export type PartState = z.infer<typeof PartState>;

/** The files of an unfinished download of `file`. */
export interface PartFiles {
  /** The bytes so far, renamed to `file` only once complete and verified. */
  part: string;
  /** The {@link PartState} beside it. */
  state: string;
}

export function partFilesFor(file: string): PartFiles {
  return { part: `${file}.part`, state: `${file}.part.json` };
}

/** The saved state, or undefined when there is none or it cannot be trusted. */
export function readPartState(files: PartFiles): PartState | undefined {
  try {
    const parsed = PartState.safeParse(JSON.parse(fs.readFileSync(files.state, 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Saves the state through a temp file, so a crash never leaves half a JSON document. */
export function writePartState(files: PartFiles, state: PartState): void {
  const tmp = `${files.state}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(state)}\n`);
  fs.renameSync(tmp, files.state);
}

/** Size of the part file on disk, 0 when there is none. */
export function partSize(files: PartFiles): number {
  try {
    return fs.statSync(files.part).size;
  } catch {
    return 0;
  }
}

/** Forgets an unfinished download (after it completed, or when it cannot be continued). */
export function removePart(files: PartFiles): void {
  fs.rmSync(files.part, { force: true });
  fs.rmSync(files.state, { force: true });
}

/** The validator to send as `If-Range`: the ETag, else Last-Modified, else none (cannot resume). */
export function resumeValidator(state: PartState): string | undefined {
  return state.etag ?? state.lastModified;
}
