// Training checkpoints: <runDir>/checkpoints/step-NNNNNN/ holds params.safetensors,
// ema.safetensors (when the run keeps an EMA), optimizer.safetensors (AdamW's mu.* and nu.*)
// and state.json (format, resolved config, step, RNG key, data cursor, optimizer / EMA step).
// A checkpoint is written into a temporary folder (every file fsynced), renamed into place and
// the folder fsynced, then <runDir>/checkpoints/latest (a text file naming the folder) is
// replaced atomically; only the newest K are kept. A crash at any point leaves the previous
// checkpoints and `latest` intact. Tensors are stored as float32 (exact for the webasm, cpu and
// webgpu backends; the float64 reference backend is rounded).

import { opError } from '@tapegrad/tensor';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { dispose, randomKey, type RandomKey } from '@tapegrad/tensor';
import { loadSafetensorsInto, saveSafetensors, SafetensorsError, writeFileAtomic } from '@tapegrad/nn';

import type { ResolvedTrainConfig } from './config.ts';
import type { DataCursor } from './data.ts';

export const CHECKPOINT_FORMAT = 'tapegrad-ddpm-checkpoint';
export const CHECKPOINT_VERSION = 1;

/** state.json of a checkpoint. */
export interface CheckpointState {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  /** Optimizer updates done. */
  step: number;
  config: ResolvedTrainConfig;
  /** The run's root key words (randomKey(config.seed)); every per-step key is derived from it and the step. */
  rngKey: [number, number];
  dataCursor: DataCursor;
  /** AdamW's update count (state.step) and the EMA's (null without EMA). */
  optimizerStep: number;
  emaStep: number | null;
  /** Wall-clock seconds of training so far (over every resumed segment). */
  wallSeconds: number;
  /** The last loss read back before this checkpoint (null if none yet). */
  lastLoss: number | null;
}

/** The tensors of a checkpoint (trees with the params' structure). */
export interface CheckpointTensors<P> {
  params: P;
  ema: P | null;
  optimizer: { mu: P; nu: P };
}

const FILES = { params: 'params.safetensors', ema: 'ema.safetensors', optimizer: 'optimizer.safetensors', state: 'state.json' };
const stepName = (step: number) => `step-${String(step).padStart(6, '0')}`;
const STEP_RE = /^step-(\d{6,})$/;

async function fsyncPath(path: string): Promise<void> {
  try {
    const h = await open(path, 'r');
    try { await h.sync(); } finally { await h.close(); }
  } catch {
    // directory fsync is best effort (not supported everywhere)
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/** The checkpoint folders of a run, oldest first. */
export async function listCheckpoints(runDir: string): Promise<string[]> {
  const dir = join(runDir, 'checkpoints');
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  return names.filter((n) => STEP_RE.test(n)).sort((a, b) => Number(STEP_RE.exec(a)![1]) - Number(STEP_RE.exec(b)![1])).map((n) => join(dir, n));
}

/** The folder `latest` names (or the newest folder when the pointer is missing); null when the run has none. */
export async function latestCheckpoint(runDir: string): Promise<string | null> {
  const dir = join(runDir, 'checkpoints');
  try {
    const name = (await readFile(join(dir, 'latest'), 'utf8')).trim();
    if (!STEP_RE.test(name)) throw opError('loadCheckpoint', `${join(dir, 'latest')}: expected a folder name like step-000100, got ${JSON.stringify(name.slice(0, 40))}`);
    return join(dir, name);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const all = await listCheckpoints(runDir);
  return all.length ? all[all.length - 1]! : null;
}

/**
 * A checkpoint folder from what a user may pass: a checkpoint folder itself (has state.json), a
 * run folder (its latest checkpoint) or its checkpoints/ folder.
 */
export async function resolveCheckpoint(path: string): Promise<string> {
  const fn = 'loadCheckpoint';
  if (await exists(join(path, FILES.state))) return path;
  if (await exists(join(path, 'checkpoints'))) {
    const c = await latestCheckpoint(path);
    if (c) return c;
  }
  if (await exists(join(path, 'latest'))) {
    const c = await latestCheckpoint(join(path, '..'));
    if (c) return c;
  }
  throw opError(fn, `${path}: no checkpoint found (expected a run folder with checkpoints/, or a checkpoint folder with ${FILES.state})`);
}

/**
 * Write a checkpoint atomically and return its folder. Keeps the newest `keep` checkpoints and
 * points `latest` at this one. An existing folder of the same step is left as it is (a checkpoint
 * folder only ever appears complete).
 */
export async function saveCheckpoint<P>(runDir: string, state: CheckpointState, tensors: CheckpointTensors<P>, keep = 3): Promise<string> {
  const fn = 'saveCheckpoint';
  const dir = join(runDir, 'checkpoints');
  await mkdir(dir, { recursive: true });
  // Leftovers of a killed save: a temporary checkpoint folder, or writeFileAtomic's temporary `latest`.
  for (const n of await readdir(dir)) if (n.startsWith('.tmp-') || n.startsWith('.latest.tmp-')) await rm(join(dir, n), { recursive: true, force: true });
  const final = join(dir, stepName(state.step));
  if (!(await exists(final))) {
    const tmp = join(dir, `.tmp-${stepName(state.step)}-${process.pid}-${randomBytes(4).toString('hex')}`);
    await mkdir(tmp);
    try {
      const meta = { format: CHECKPOINT_FORMAT, step: String(state.step) };
      await saveSafetensors(join(tmp, FILES.params), tensors.params, meta);
      if (tensors.ema) await saveSafetensors(join(tmp, FILES.ema), tensors.ema, meta);
      await saveSafetensors(join(tmp, FILES.optimizer), tensors.optimizer, meta);
      await writeFileAtomic(join(tmp, FILES.state), `${JSON.stringify(state, null, 2)}\n`); // also flushes tmp
      await rename(tmp, final);
      await fsyncPath(dir);
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw opError(fn, `${final}: cannot write the checkpoint (${(e as Error).message})`);
    }
  }
  await writeFileAtomic(join(dir, 'latest'), `${stepName(state.step)}\n`);
  const all = await listCheckpoints(runDir);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) if (old !== final) await rm(old, { recursive: true, force: true });
  return final;
}

/** Read and check a checkpoint's state.json (errors name the file and the field). */
export async function readCheckpointState(dir: string): Promise<CheckpointState> {
  const fn = 'loadCheckpoint';
  const file = join(dir, FILES.state);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw opError(fn, `${file}: cannot read (${(e as Error).message})`);
  }
  let s: CheckpointState;
  try {
    s = JSON.parse(text) as CheckpointState;
  } catch (e) {
    throw opError(fn, `${file}: not valid JSON (${(e as Error).message}); the checkpoint is corrupt or truncated`);
  }
  if (!s || typeof s !== 'object' || s.format !== CHECKPOINT_FORMAT) throw opError(fn, `${file}: format is ${JSON.stringify((s as { format?: unknown })?.format)}; expected '${CHECKPOINT_FORMAT}'`);
  if (s.version !== CHECKPOINT_VERSION) throw opError(fn, `${file}: version ${JSON.stringify(s.version)} is not supported; expected ${CHECKPOINT_VERSION}`);
  const isInt = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  const bad = (field: string, v: unknown, expected: string) => opError(fn, `${file}: ${field} is ${JSON.stringify(v)}; expected ${expected}`);
  if (!isInt(s.step)) throw bad('step', s.step, 'an integer >= 0');
  if (!Array.isArray(s.rngKey) || s.rngKey.length !== 2 || !s.rngKey.every((w) => isInt(w) && w < 2 ** 32)) throw bad('rngKey', s.rngKey, 'two 32-bit words');
  if (!s.dataCursor || !isInt(s.dataCursor.epoch) || !isInt(s.dataCursor.index)) throw bad('dataCursor', s.dataCursor, '{ epoch, index } (integers >= 0)');
  if (!isInt(s.optimizerStep)) throw bad('optimizerStep', s.optimizerStep, 'an integer >= 0');
  if (s.emaStep !== null && !isInt(s.emaStep)) throw bad('emaStep', s.emaStep, 'an integer >= 0 or null');
  if (!s.config || typeof s.config !== 'object') throw bad('config', s.config, 'the resolved training config');
  if ((s.config.ema === null) !== (s.emaStep === null)) throw bad('emaStep', s.emaStep, s.config.ema === null ? 'null (the config has no EMA)' : 'an integer (the config has an EMA)');
  return s;
}

async function loadTree<P>(fn: string, file: string, template: P): Promise<P> {
  try {
    return (await loadSafetensorsInto(file, template)).params;
  } catch (e) {
    if (e instanceof SafetensorsError || /safetensors/i.test((e as Error).message)) {
      const m = (e as Error).message.replace(/^\w+: /, '');
      throw opError(fn, m.includes(file) ? m : `${file}: ${m}`);
    }
    throw e;
  }
}

/**
 * Load a checkpoint folder into trees shaped like `template` (fresh params from model.init):
 * every tensor must be present with the template's shape; a truncated, corrupt or mismatched
 * file is an error naming the file and the tensor. The caller owns the returned tensors.
 */
export async function loadCheckpoint<P>(dir: string, template: P): Promise<{ state: CheckpointState; tensors: CheckpointTensors<P> }> {
  const fn = 'loadCheckpoint';
  const state = await readCheckpointState(dir);
  const made: unknown[] = [];
  try {
    const params = await loadTree(fn, join(dir, FILES.params), template);
    made.push(params);
    const ema = state.emaStep === null ? null : await loadTree(fn, join(dir, FILES.ema), template);
    made.push(ema);
    const optimizer = await loadTree(fn, join(dir, FILES.optimizer), { mu: template, nu: template });
    return { state, tensors: { params, ema, optimizer } };
  } catch (e) {
    dispose(made);
    throw e;
  }
}

/**
 * What `sample` / `export` need from a checkpoint (a run folder or a checkpoint folder): its
 * state (with the resolved config) and the params and EMA params, loaded into the shapes of
 * `model.init(key, state.config.modelConfig)`. The optimizer moments are not kept. The caller
 * owns (disposes) params and ema.
 */
export async function loadTrainedModel<P>(path: string, model: { init(key: RandomKey, config: any): P }): Promise<{ dir: string; state: CheckpointState; params: P; ema: P | null }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const dir = await resolveCheckpoint(path);
  const head = await readCheckpointState(dir);
  const template = model.init(randomKey(0), head.config.modelConfig);
  try {
    const { state, tensors } = await loadCheckpoint(dir, template);
    dispose(tensors.optimizer);
    return { dir, state, params: tensors.params, ema: tensors.ema };
  } finally {
    dispose(template);
  }
}
