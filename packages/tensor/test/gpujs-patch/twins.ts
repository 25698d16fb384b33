// Loads two copies of gpu.js in one process: the code generator exactly as npm ships it
// (2.24.1) and with patches/gpu.js+2.24.1.patch applied. Both are rebuilt from whatever is
// installed in node_modules plus the patch file (forward- or reverse-applied), so this works
// whether or not `npm run setup` has patched node_modules. The copies are written under
// node_modules/.cache/ so gpu.js's own dependencies (acorn, gpu-mock.js) resolve from the
// project's node_modules.

import { createRequire } from 'node:module';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
export const PATCH_FILE = join(ROOT, 'patches', 'gpu.js+2.24.1.patch');
const GPUJS_DIR = dirname(require.resolve('gpu.js/package.json'));

interface Hunk { oldStart: number; oldLines: string[]; newStart: number; newLines: string[] }
interface FilePatch { path: string; hunks: Hunk[] }

/** Parses a git-style unified diff (what patch-package writes). */
export function parsePatch(text: string): FilePatch[] {
  const files: FilePatch[] = [];
  const lines = text.split('\n');
  let file: FilePatch | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith('+++ b/')) {
      file = { path: line.slice(6).replace(/^node_modules\/gpu\.js\//, ''), hunks: [] };
      files.push(file);
      continue;
    }
    const m = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(line);
    if (m && file) {
      const hunk: Hunk = { oldStart: Number(m[1]), oldLines: [], newStart: Number(m[2]), newLines: [] };
      for (i++; i < lines.length; i++) {
        const l = lines[i];
        if (l.startsWith('@@') || l.startsWith('diff ')) { i--; break; }
        if (l.startsWith('\\')) continue; // "\ No newline at end of file"
        const tag = l[0];
        const body = l.slice(1);
        if (tag === ' ') { hunk.oldLines.push(body); hunk.newLines.push(body); }
        else if (tag === '-') hunk.oldLines.push(body);
        else if (tag === '+') hunk.newLines.push(body);
        else if (l === '') { if (i === lines.length - 1) break; hunk.oldLines.push(''); hunk.newLines.push(''); }
      }
      file.hunks.push(hunk);
    }
  }
  return files;
}

/** Applies (or reverse-applies) hunks with exact line matching; throws on any mismatch. */
export function applyHunks(source: string, hunks: Hunk[], reverse: boolean): string {
  const lines = source.split('\n');
  let delta = 0;
  for (const h of hunks) {
    const from = reverse ? h.newLines : h.oldLines;
    const to = reverse ? h.oldLines : h.newLines;
    const start = (reverse ? h.newStart : h.oldStart) - 1 + delta;
    for (let k = 0; k < from.length; k++) {
      if (lines[start + k] !== from[k]) {
        throw new Error(`gpujs-patch: hunk at line ${start + 1} does not match (line ${start + k + 1}: ${JSON.stringify(lines[start + k])} vs ${JSON.stringify(from[k])})`);
      }
    }
    lines.splice(start, from.length, ...to);
    delta += to.length - from.length;
  }
  return lines.join('\n');
}

export interface Twins {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  pristine: any;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  patched: any;
  /** The patched copy's WebAssemblyFunctionNode (its static `inlineMath` switches patch 4). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  patchedFunctionNode: any;
  /** Whether node_modules/gpu.js itself is patched (what Node runs for tapegrad). */
  installedPatched: boolean;
  /** Whether node_modules/gpu.js equals the patched twin byte for byte. */
  installedMatchesPatch: boolean;
}

let cached: Twins | null = null;

export function loadTwins(): Twins {
  if (cached) return cached;
  const files = parsePatch(readFileSync(PATCH_FILE, 'utf8'));
  if (files.length === 0) throw new Error(`gpujs-patch: no file diffs in ${PATCH_FILE}`);
  const base = join(ROOT, 'node_modules', '.cache', 'tapegrad-gpujs-twins', String(process.pid));
  process.on('exit', () => rmSync(base, { recursive: true, force: true }));
  const dirs = { pristine: join(base, 'pristine'), patched: join(base, 'patched') };
  let installedPatched: boolean | null = null;
  let installedMatchesPatch = true;
  for (const dir of Object.values(dirs)) {
    mkdirSync(dir, { recursive: true });
    cpSync(join(GPUJS_DIR, 'src'), join(dir, 'src'), { recursive: true });
    cpSync(join(GPUJS_DIR, 'package.json'), join(dir, 'package.json'));
  }
  for (const f of files) {
    const installed = readFileSync(join(GPUJS_DIR, f.path), 'utf8');
    let pristine: string;
    let patched: string;
    let isPatched: boolean;
    try {
      pristine = applyHunks(installed, f.hunks, true);
      patched = installed;
      isPatched = true;
    } catch {
      patched = applyHunks(installed, f.hunks, false);
      pristine = installed;
      isPatched = false;
    }
    if (installedPatched === null) installedPatched = isPatched;
    else if (installedPatched !== isPatched) installedMatchesPatch = false;
    writeFileSync(join(dirs.pristine, f.path), pristine);
    writeFileSync(join(dirs.patched, f.path), patched);
  }
  const load = (dir: string) => {
    const entry = join(dir, 'src', 'index.js');
    if (!existsSync(entry)) throw new Error(`gpujs-patch: ${entry} missing`);
    return createRequire(entry)(entry);
  };
  const fnPath = join(dirs.patched, 'src', 'backend', 'web-assembly', 'function-node.js');
  cached = {
    pristine: load(dirs.pristine),
    patched: load(dirs.patched),
    patchedFunctionNode: createRequire(fnPath)(fnPath).WebAssemblyFunctionNode,
    installedPatched: Boolean(installedPatched),
    installedMatchesPatch,
  };
  return cached;
}
