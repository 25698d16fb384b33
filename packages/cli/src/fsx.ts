// File-system helpers for run folders: a directory creator that cannot loop, an up-front
// writability check, and atomic writes (temp file + fsync + rename).
//
// Node's `mkdirSync(p, { recursive: true })` spins forever under /proc (issue 8 §7): it keeps
// retrying a parent it is told exists but cannot create children in. `ensureDir` walks the path
// one component at a time, creating each missing one with a plain (non-recursive) mkdir, and
// stops with an error naming the component at the first thing that is not a directory or
// cannot be created.

import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, parse, resolve, sep } from 'node:path';

/** A usage error: reported as `error: <message>` with exit code 2, before any work starts. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Create `dir` and its missing parents, one component at a time. Returns the absolute path. */
export function ensureDir(dir: string, what = 'output folder'): string {
  const abs = resolve(dir);
  const { root } = parse(abs);
  const parts = abs.slice(root.length).split(sep).filter((p) => p.length > 0);
  let cur = root;
  for (const part of parts) {
    cur = cur.endsWith(sep) ? cur + part : cur + sep + part;
    let st;
    try {
      st = statSync(cur);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw new Error(`${what} '${dir}': cannot inspect '${cur}' (${code})`);
      try {
        mkdirSync(cur);
      } catch (e2) {
        const c2 = (e2 as NodeJS.ErrnoException).code;
        if (c2 === 'EEXIST' && statSync(cur).isDirectory()) continue;
        throw new Error(`${what} '${dir}': cannot create '${cur}' (${c2}); expected a path where folders can be created`);
      }
      continue;
    }
    if (!st.isDirectory()) throw new Error(`${what} '${dir}': '${cur}' exists and is not a folder`);
  }
  return abs;
}

/** Create `dir` (see ensureDir) and prove a file can be written there; throws naming the folder. */
export function checkWritableDir(dir: string, what = 'output folder'): string {
  const abs = ensureDir(dir, what);
  const probe = resolve(abs, `.tapegrad-write-test-${process.pid}`);
  try {
    const fd = openSync(probe, 'w');
    closeSync(fd);
    unlinkSync(probe);
  } catch (e) {
    try { rmSync(probe, { force: true }); } catch { /* nothing to clean */ }
    throw new Error(`${what} '${dir}': cannot write files there (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  return abs;
}

/** Write bytes atomically: temp file in the same folder, fsync, rename over `path`. */
export function writeFileAtomic(path: string, bytes: Uint8Array | string): void {
  ensureDir(dirname(path));
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
    let off = 0;
    while (off < buf.byteLength) off += writeSync(fd, buf, off, buf.byteLength - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
