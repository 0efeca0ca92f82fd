import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A temp folder to share, and a sibling folder outside it that no request may reach. */
export interface ShareFixture {
  /** The shared folder. */
  root: string;
  /** Beside the share: holds `secret.txt`, which traversal attempts aim at. */
  outside: string;
  cleanup(): void;
}

export const SECRET_TEXT = 'the outside secret\n';

/**
 * Builds a small realistic share: Korean and spaced names, a nested folder, a hidden file, a
 * symlink pointing outside and one pointing inside, a binary file.
 */
export function makeShareFixture(): ShareFixture {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-share-'));
  const root = path.join(base, 'shared');
  const outside = path.join(base, 'outside');
  fs.mkdirSync(path.join(root, '한글 폴더', 'sub'), { recursive: true });
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'secret.txt'), SECRET_TEXT);
  fs.writeFileSync(path.join(root, 'hello.txt'), 'hello from the share\n');
  fs.writeFileSync(path.join(root, '한글 폴더', '보고서 1.txt'), '한국어 내용\n');
  fs.writeFileSync(path.join(root, '한글 폴더', 'sub', 'deep.txt'), 'deep\n');
  fs.writeFileSync(path.join(root, 'a & b #1.txt'), 'special characters\n');
  fs.writeFileSync(path.join(root, 'page.html'), '<script>document.title="ran"</script>\n');
  fs.writeFileSync(path.join(root, 'data.bin'), Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7) % 251)));
  fs.writeFileSync(path.join(root, '.env'), 'HIDDEN=1\n');
  fs.mkdirSync(path.join(root, '.git'));
  fs.writeFileSync(path.join(root, '.git', 'config'), '[core]\n');
  fs.symlinkSync(outside, path.join(root, 'escape'));
  fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(root, 'escape.txt'));
  fs.symlinkSync(path.join(root, 'hello.txt'), path.join(root, 'inner-link.txt'));
  return { root, outside, cleanup: () => fs.rmSync(base, { recursive: true, force: true }) };
}

/** Every file under `dir` with its size and mtime: to prove nothing changed. */
export function snapshotTree(dir: string): string {
  const lines: string[] = [];
  const walk = (current: string): void => {
    for (const entry of fs.readdirSync(current, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(current, entry.name);
      const stats = fs.lstatSync(full);
      lines.push(`${path.relative(dir, full)} ${entry.isDirectory() ? 'dir' : stats.size} ${stats.mtimeMs}`);
      if (entry.isDirectory()) walk(full);
    }
  };
  walk(dir);
  return lines.join('\n');
}
