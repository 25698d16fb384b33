// diffusers' DDPMPipeline folder <-> { config, params, schedule }:
//
//   DIR/model_index.json                              {"_class_name": "DDPMPipeline", "unet": [...], "scheduler": [...]}
//   DIR/unet/config.json                              UNet2DModel config (snake_case), "_class_name": "UNet2DModel"
//   DIR/unet/diffusion_pytorch_model.safetensors      float32 tensors named as UNet2DModel.state_dict()
//   DIR/scheduler/scheduler_config.json               DDPMScheduler config
//
// so `DDPMPipeline.from_pretrained(DIR)` works in Python and a diffusers checkpoint samples here.
// Every file is written atomically (temporary file, fsync, rename); model_index.json last.

import { readFile, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import { loadSafetensors, saveSafetensors, writeFileAtomic } from '@tapegrad/nn';
import { makeSchedule, rescaleZeroTerminalSnr, scheduleFromBetas, type Schedule, type ScheduleKind, type ScheduleOptions } from '../schedule/schedule.ts';
import {
  fromDiffusersUNetConfig, resolveUNet2DConfig, toDiffusersUNetConfig, unet2dParamSpec, unetError,
  type ResolvedUNet2DConfig, type UNet2DConfig,
} from './unet2d-config.ts';
import { checkUNet2DParams, treeFromEntries, type UNet2DParams } from './unet2d.ts';

/** The diffusers version written into the JSON files (the format they follow). */
export const DIFFUSERS_FORMAT_VERSION = '0.32.0';

export type DiffusersPredictionType = 'epsilon' | 'sample' | 'v_prediction';
export type DiffusersVarianceType = 'fixed_small' | 'fixed_small_log' | 'fixed_large' | 'fixed_large_log' | 'learned' | 'learned_range';
export type DiffusersSpacing = 'leading' | 'trailing' | 'linspace';

/**
 * The DDPMScheduler options besides the betas, in camelCase, with diffusers' defaults
 * (predictionType 'epsilon', varianceType 'fixed_small', clipSample true, clipSampleRange 1,
 * thresholding false, dynamicThresholdingRatio 0.995, sampleMaxValue 1, timestepSpacing
 * 'leading', stepsOffset 0).
 */
export interface DiffusersSchedulerOptions {
  predictionType?: DiffusersPredictionType | 'v';
  varianceType?: DiffusersVarianceType;
  clipSample?: boolean;
  clipSampleRange?: number;
  thresholding?: boolean;
  dynamicThresholdingRatio?: number;
  sampleMaxValue?: number;
  timestepSpacing?: DiffusersSpacing;
  stepsOffset?: number;
}

export type ResolvedSchedulerOptions = Required<Omit<DiffusersSchedulerOptions, 'predictionType'>> & { predictionType: DiffusersPredictionType };

const SCHEDULER_DEFAULTS: ResolvedSchedulerOptions = {
  predictionType: 'epsilon',
  varianceType: 'fixed_small',
  clipSample: true,
  clipSampleRange: 1,
  thresholding: false,
  dynamicThresholdingRatio: 0.995,
  sampleMaxValue: 1,
  timestepSpacing: 'leading',
  stepsOffset: 0,
};

export interface ExportDiffusersInput {
  config: UNet2DConfig;
  params: UNet2DParams;
  schedule: Schedule;
  /** DDPMScheduler options (diffusers' defaults when omitted). */
  scheduler?: DiffusersSchedulerOptions;
}

/** The options of @tapegrad/ddpm's `sample()` that a scheduler config implies (spread them into sample's options). */
export interface DiffusersSamplingOptions {
  prediction: DiffusersPredictionType;
  /** Only 'fixed_small' and 'fixed_large' exist in @tapegrad/ddpm's ddpm sampler; other types are reported here as they are. */
  variance: DiffusersVarianceType;
  clip: false | { kind: 'clip'; range: number } | { kind: 'dynamic'; ratio: number; maxValue: number };
  spacing: DiffusersSpacing;
  offset: number;
}

export interface ImportedDiffusers {
  config: ResolvedUNet2DConfig;
  params: UNet2DParams;
  /** Absent when the folder is a bare UNet folder (config.json + safetensors, no scheduler). */
  schedule?: Schedule;
  scheduler?: ResolvedSchedulerOptions & { className: string };
  /** sample() options implied by the scheduler config. */
  sampling?: DiffusersSamplingOptions;
  /** Scheduler keys read but not used (e.g. DDIMScheduler's set_alpha_to_one). */
  ignoredSchedulerKeys?: string[];
}

const EXPORT = 'exportDiffusers';
const IMPORT = 'importDiffusers';
const WEIGHTS = 'diffusion_pytorch_model.safetensors';

// ------------------------------------------------------------------------------------------
// Files.

async function writeJsonAtomic(fn: string, path: string, text: string): Promise<void> {
  try {
    await writeFileAtomic(path, text);
  } catch (e) {
    throw unetError(fn, `${path}: cannot write (${(e as Error).message})`);
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

async function readJson(fn: string, path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw unetError(fn, `${path}: cannot read (${err.code === 'ENOENT' ? 'no such file' : err.message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw unetError(fn, `${path}: invalid JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw unetError(fn, `${path}: expected a JSON object, got ${json === null ? 'null' : Array.isArray(json) ? 'an array' : typeof json}`);
  }
  return json as Record<string, unknown>;
}

// ------------------------------------------------------------------------------------------
// Scheduler config <-> Schedule.

const DIFFUSERS_BETA_SCHEDULE: Record<ScheduleKind, string> = {
  linear: 'linear',
  scaled_linear: 'scaled_linear',
  cosine: 'squaredcos_cap_v2',
  sigmoid: 'sigmoid',
};

const sameBetas = (a: ArrayLike<number>, b: ArrayLike<number>): boolean => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

/**
 * The beta part of a DDPMScheduler config for a schedule: a named beta_schedule with
 * beta_start / beta_end when diffusers' formula (as makeSchedule computes it) reproduces the
 * betas bit for bit, else trained_betas (every beta, as float64 JSON numbers).
 */
export function scheduleToDiffusers(schedule: Schedule, fn = 'scheduleToDiffusers'): Record<string, unknown> {
  if (!schedule || typeof schedule !== 'object' || !(schedule.betas instanceof Float64Array) || !Number.isInteger(schedule.T)) {
    throw unetError(fn, 'schedule must be a Schedule (makeSchedule / scheduleFromBetas), got ' + (schedule === null ? 'null' : typeof schedule));
  }
  const b = schedule.betas;
  const Tn = schedule.T;
  const kinds: ScheduleKind[] = schedule.kind === 'custom' ? ['linear', 'scaled_linear', 'cosine', 'sigmoid'] : [schedule.kind];
  const defaults: Record<ScheduleKind, [number, number]> = { linear: [1e-4, 0.02], scaled_linear: [0.00085, 0.012], cosine: [1e-4, 0.02], sigmoid: [1e-4, 0.02] };
  for (const kind of kinds) {
    for (const rescale of [false, true]) {
      const candidates: [number, number][] = kind === 'cosine' ? [defaults.cosine] : [[b[0], b[Tn - 1]], defaults[kind], [b[0], defaults[kind][1]]];
      for (const [betaStart, betaEnd] of candidates) {
        const opts: ScheduleOptions = { betaStart, betaEnd, rescaleZeroTerminalSnr: rescale };
        if (kind === 'sigmoid') opts.sigmoidVariant = 'geodiff';
        let s: Schedule;
        try {
          if (rescale && Tn < 2) continue;
          s = makeSchedule(kind, Tn, opts);
        } catch {
          continue;
        }
        if (sameBetas(s.betas, b)) {
          return {
            num_train_timesteps: Tn, beta_schedule: DIFFUSERS_BETA_SCHEDULE[kind], beta_start: betaStart, beta_end: betaEnd,
            trained_betas: null, rescale_betas_zero_snr: rescale,
          };
        }
      }
    }
  }
  return { num_train_timesteps: Tn, beta_schedule: 'linear', beta_start: 1e-4, beta_end: 0.02, trained_betas: Array.from(b), rescale_betas_zero_snr: false };
}

function fieldOf<V>(fn: string, where: string, json: Record<string, unknown>, key: string, check: (v: unknown) => boolean, expected: string, dflt: V): V {
  const v = json[key];
  if (v === undefined) return dflt;
  if (!check(v)) throw unetError(fn, `${where}: ${key} = ${JSON.stringify(v)} is not supported; expected ${expected}`);
  return v as V;
}

const isNum = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);

/**
 * A Schedule from a diffusers scheduler config (DDPMScheduler and the schedulers that share
 * its beta keys): beta_schedule 'linear' | 'scaled_linear' | 'squaredcos_cap_v2' | 'sigmoid'
 * or trained_betas, with rescale_betas_zero_snr. Betas are computed in float64 (diffusers
 * rounds them to float32).
 */
export function scheduleFromDiffusers(json: Record<string, unknown>, fn = 'scheduleFromDiffusers', where = 'scheduler_config.json'): Schedule {
  const Tn = fieldOf(fn, where, json, 'num_train_timesteps', (v) => Number.isInteger(v) && (v as number) >= 1, 'an integer >= 1', 1000);
  const betaStart = fieldOf(fn, where, json, 'beta_start', (v) => isNum(v) && (v as number) > 0, 'a positive number', 1e-4);
  const betaEnd = fieldOf(fn, where, json, 'beta_end', (v) => isNum(v) && (v as number) > 0, 'a positive number', 0.02);
  const rescale = fieldOf(fn, where, json, 'rescale_betas_zero_snr', (v) => typeof v === 'boolean', 'true or false', false);
  const trained = json.trained_betas;
  const wrap = <R>(f: () => R): R => {
    try {
      return f();
    } catch (e) {
      throw unetError(fn, `${where}: ${(e as Error).message}`);
    }
  };
  if (trained !== undefined && trained !== null) {
    if (!Array.isArray(trained) || trained.length !== Tn || !trained.every(isNum)) {
      throw unetError(fn, `${where}: trained_betas must be null or an array of num_train_timesteps (${Tn}) numbers, got ${Array.isArray(trained) ? `${trained.length} entries` : JSON.stringify(trained)}`);
    }
    return wrap(() => (rescale
      ? scheduleFromBetas(rescaleZeroTerminalSnr(trained as number[]), { allowTerminalBetaOne: true })
      : scheduleFromBetas(trained as number[], { allowTerminalBetaOne: true }))); // a rescaled schedule exported as trained_betas ends at 1
  }
  const name = fieldOf(fn, where, json, 'beta_schedule', (v) => typeof v === 'string', "'linear', 'scaled_linear', 'squaredcos_cap_v2' or 'sigmoid'", 'linear');
  const kind = (Object.entries(DIFFUSERS_BETA_SCHEDULE).find(([, d]) => d === name)?.[0]) as ScheduleKind | undefined;
  if (!kind) {
    throw unetError(fn, `${where}: beta_schedule = '${name}' is not supported; expected 'linear', 'scaled_linear', 'squaredcos_cap_v2' or 'sigmoid' (or trained_betas)`);
  }
  const opts: ScheduleOptions = { rescaleZeroTerminalSnr: rescale };
  if (kind !== 'cosine') Object.assign(opts, { betaStart, betaEnd });
  if (kind === 'sigmoid') opts.sigmoidVariant = 'geodiff';
  return wrap(() => makeSchedule(kind, Tn, opts));
}

const PREDICTIONS = ['epsilon', 'sample', 'v_prediction'];
const VARIANCES = ['fixed_small', 'fixed_small_log', 'fixed_large', 'fixed_large_log', 'learned', 'learned_range'];
const SPACINGS = ['leading', 'trailing', 'linspace'];

function resolveSchedulerOptions(fn: string, where: string, o: Record<string, unknown>): ResolvedSchedulerOptions {
  const r = { ...SCHEDULER_DEFAULTS };
  const pred = o.predictionType === 'v' ? 'v_prediction' : o.predictionType;
  r.predictionType = fieldOf(fn, where, { prediction_type: pred }, 'prediction_type', (v) => PREDICTIONS.includes(v as string), "'epsilon', 'sample' or 'v_prediction'", r.predictionType);
  r.varianceType = fieldOf(fn, where, { variance_type: o.varianceType }, 'variance_type', (v) => VARIANCES.includes(v as string), VARIANCES.map((v) => `'${v}'`).join(', '), r.varianceType);
  r.clipSample = fieldOf(fn, where, { clip_sample: o.clipSample }, 'clip_sample', (v) => typeof v === 'boolean', 'true or false', r.clipSample);
  r.clipSampleRange = fieldOf(fn, where, { clip_sample_range: o.clipSampleRange }, 'clip_sample_range', (v) => isNum(v) && (v as number) > 0, 'a positive number', r.clipSampleRange);
  r.thresholding = fieldOf(fn, where, { thresholding: o.thresholding }, 'thresholding', (v) => typeof v === 'boolean', 'true or false', r.thresholding);
  r.dynamicThresholdingRatio = fieldOf(fn, where, { dynamic_thresholding_ratio: o.dynamicThresholdingRatio }, 'dynamic_thresholding_ratio', (v) => isNum(v) && (v as number) > 0 && (v as number) <= 1, 'a number in (0, 1]', r.dynamicThresholdingRatio);
  r.sampleMaxValue = fieldOf(fn, where, { sample_max_value: o.sampleMaxValue }, 'sample_max_value', (v) => isNum(v) && (v as number) > 0, 'a positive number', r.sampleMaxValue);
  r.timestepSpacing = fieldOf(fn, where, { timestep_spacing: o.timestepSpacing }, 'timestep_spacing', (v) => SPACINGS.includes(v as string), "'leading', 'trailing' or 'linspace'", r.timestepSpacing);
  r.stepsOffset = fieldOf(fn, where, { steps_offset: o.stepsOffset }, 'steps_offset', (v) => Number.isInteger(v) && (v as number) >= 0, 'an integer >= 0', r.stepsOffset);
  return r;
}

const SCHEDULER_OPTION_KEYS: (keyof ResolvedSchedulerOptions)[] = [
  'predictionType', 'varianceType', 'clipSample', 'clipSampleRange', 'thresholding', 'dynamicThresholdingRatio', 'sampleMaxValue', 'timestepSpacing', 'stepsOffset',
];
const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const BETA_KEYS = ['num_train_timesteps', 'beta_start', 'beta_end', 'beta_schedule', 'trained_betas', 'rescale_betas_zero_snr'];

/** The DDPMScheduler config.json object for a schedule and options. */
export function diffusersSchedulerConfig(schedule: Schedule, options: DiffusersSchedulerOptions = {}, fn = 'diffusersSchedulerConfig'): Record<string, unknown> {
  if (options === null || typeof options !== 'object') throw unetError(fn, `scheduler options must be an object, got ${options === null ? 'null' : typeof options}`);
  for (const k of Object.keys(options)) {
    if (!(SCHEDULER_OPTION_KEYS as string[]).includes(k)) throw unetError(fn, `unknown scheduler option '${k}'; expected ${SCHEDULER_OPTION_KEYS.join(', ')}`);
  }
  const r = resolveSchedulerOptions(fn, 'scheduler', options as Record<string, unknown>);
  const out: Record<string, unknown> = { _class_name: 'DDPMScheduler', _diffusers_version: DIFFUSERS_FORMAT_VERSION, ...scheduleToDiffusers(schedule, fn) };
  for (const k of SCHEDULER_OPTION_KEYS) out[snake(k)] = r[k];
  return out;
}

function samplingFrom(r: ResolvedSchedulerOptions): DiffusersSamplingOptions {
  return {
    prediction: r.predictionType,
    variance: r.varianceType,
    clip: r.thresholding
      ? { kind: 'dynamic', ratio: r.dynamicThresholdingRatio, maxValue: r.sampleMaxValue }
      : r.clipSample ? { kind: 'clip', range: r.clipSampleRange } : false,
    spacing: r.timestepSpacing,
    offset: r.stepsOffset,
  };
}

// ------------------------------------------------------------------------------------------
// Export.

/**
 * Write a diffusers DDPMPipeline folder (created if needed; existing files of the same names
 * are replaced atomically, one by one, model_index.json last).
 */
export async function exportDiffusers(dir: string, input: ExportDiffusersInput): Promise<void> {
  if (typeof dir !== 'string' || dir === '') throw unetError(EXPORT, `dir must be a non-empty path string, got ${JSON.stringify(dir)}`);
  if (input === null || typeof input !== 'object') throw unetError(EXPORT, 'expected { config, params, schedule, scheduler? }');
  const config = resolveUNet2DConfig(input.config, EXPORT);
  if (config.sampleSize === null) {
    throw unetError(EXPORT, "config.sampleSize is null; DDPMPipeline reads the image size from it (unet.config.sample_size), so set it to the training resolution (a number or [height, width])");
  }
  checkUNet2DParams(input.params, config, EXPORT);
  const schedulerConfig = diffusersSchedulerConfig(input.schedule, input.scheduler ?? {}, EXPORT);
  const unetConfig = toDiffusersUNetConfig(config, DIFFUSERS_FORMAT_VERSION);
  try {
    await mkdir(join(dir, 'unet'), { recursive: true });
    await mkdir(join(dir, 'scheduler'), { recursive: true });
  } catch (e) {
    throw unetError(EXPORT, `${dir}: cannot create the folder (${(e as Error).message})`);
  }
  try {
    await saveSafetensors(join(dir, 'unet', WEIGHTS), input.params, { format: 'pt' });
  } catch (e) {
    throw unetError(EXPORT, (e as Error).message.replace(/^saveSafetensors: /, ''));
  }
  await writeJsonAtomic(EXPORT, join(dir, 'unet', 'config.json'), JSON.stringify(unetConfig, null, 2) + '\n');
  await writeJsonAtomic(EXPORT, join(dir, 'scheduler', 'scheduler_config.json'), JSON.stringify(schedulerConfig, null, 2) + '\n');
  const index = {
    _class_name: 'DDPMPipeline',
    _diffusers_version: DIFFUSERS_FORMAT_VERSION,
    scheduler: ['diffusers', 'DDPMScheduler'],
    unet: ['diffusers', 'UNet2DModel'],
  };
  await writeJsonAtomic(EXPORT, join(dir, 'model_index.json'), JSON.stringify(index, null, 2) + '\n');
}

// ------------------------------------------------------------------------------------------
// Import.

const fmtShape = (s: readonly number[]): string => `[${s.join(',')}]`;

const DEPRECATED_ATTENTION: Record<string, string> = { query: 'to_q', key: 'to_k', value: 'to_v', proj_attn: 'to_out.0' };

/**
 * Checkpoints saved before diffusers 0.14 name the attention linears query / key / value /
 * proj_attn; diffusers renames them on load (ModelMixin._convert_deprecated_attention_blocks),
 * and so do we.
 */
function renameDeprecatedAttention(tensors: Record<string, Tensor>): void {
  for (const name of Object.keys(tensors)) {
    const m = /^(.*\.attentions\.\d+)\.(query|key|value|proj_attn)\.(weight|bias)$/.exec(name);
    if (!m) continue;
    const target = `${m[1]}.${DEPRECATED_ATTENTION[m[2]]}.${m[3]}`;
    if (tensors[target] !== undefined) continue;
    tensors[target] = tensors[name];
    delete tensors[name];
  }
}

async function importUNet(unetDir: string): Promise<{ config: ResolvedUNet2DConfig; params: UNet2DParams }> {
  const configPath = join(unetDir, 'config.json');
  const weightsPath = join(unetDir, WEIGHTS);
  const config = fromDiffusersUNetConfig(await readJson(IMPORT, configPath), IMPORT, configPath);
  if (!(await exists(weightsPath))) {
    const present = await Promise.all(['diffusion_pytorch_model.bin', 'diffusion_pytorch_model.safetensors.index.json', 'diffusion_pytorch_model.fp16.safetensors'].map(async (f) => ((await exists(join(unetDir, f))) ? f : null)));
    const found = present.filter((f) => f !== null);
    throw unetError(IMPORT, `${weightsPath}: no such file${found.length ? ` (found ${found.join(', ')}: only a single, non-variant safetensors file is supported; convert it with diffusers: UNet2DModel.from_pretrained(dir).save_pretrained(dir, safe_serialization=True))` : ''}`);
  }
  let tensors: Record<string, Tensor>;
  try {
    ({ tensors } = await loadSafetensors(weightsPath));
  } catch (e) {
    throw unetError(IMPORT, (e as Error).message.replace(/^loadSafetensors: /, ''));
  }
  renameDeprecatedAttention(tensors);
  const spec = unet2dParamSpec(config, IMPORT);
  const problems: string[] = [];
  const left = new Set(Object.keys(tensors));
  for (const s of spec) {
    const t = tensors[s.name];
    if (!t) {
      problems.push(`missing '${s.name}' ${fmtShape(s.shape)}`);
      continue;
    }
    left.delete(s.name);
    if (t.shape.length !== s.shape.length || t.shape.some((d, i) => d !== s.shape[i])) {
      problems.push(`'${s.name}' has shape ${fmtShape(t.shape)}; config.json implies ${fmtShape(s.shape)}`);
    }
  }
  for (const name of left) problems.push(`unexpected '${name}' ${fmtShape(tensors[name].shape)}`);
  if (problems.length) {
    T.dispose(Object.values(tensors));
    const shown = problems.slice(0, 12).join('; ') + (problems.length > 12 ? `; ... (${problems.length - 12} more)` : '');
    throw unetError(IMPORT, `${weightsPath} does not match ${configPath} (${problems.length} problem${problems.length > 1 ? 's' : ''}): ${shown}`);
  }
  const params = treeFromEntries(spec.map((s) => [s.name, tensors[s.name]] as [string, Tensor])) as unknown as UNet2DParams;
  return { config, params };
}

/**
 * Read a diffusers DDPMPipeline folder (model_index.json, unet/, scheduler/), or a bare
 * UNet2DModel folder (config.json + diffusion_pytorch_model.safetensors). Tensors are created
 * on the current backend as float32. Errors name the file and the key or tensor at fault.
 */
export async function importDiffusers(dir: string): Promise<ImportedDiffusers> {
  if (typeof dir !== 'string' || dir === '') throw unetError(IMPORT, `dir must be a non-empty path string, got ${JSON.stringify(dir)}`);
  const indexPath = join(dir, 'model_index.json');
  if (!(await exists(indexPath))) {
    if (await exists(join(dir, 'config.json'))) return importUNet(dir);
    throw unetError(IMPORT, `${dir}: neither a DDPMPipeline folder (no model_index.json) nor a UNet2DModel folder (no config.json)`);
  }
  const index = await readJson(IMPORT, indexPath);
  for (const [key, cls] of [['unet', 'UNet2DModel'], ['scheduler', null]] as const) {
    const v = index[key];
    if (!Array.isArray(v) || v.length !== 2 || typeof v[1] !== 'string' || (cls !== null && v[1] !== cls)) {
      throw unetError(IMPORT, `${indexPath}: '${key}' is ${JSON.stringify(v)}; expected ["diffusers", "${cls ?? 'DDPMScheduler'}"]`);
    }
  }
  const schedulerPath = join(dir, 'scheduler', 'scheduler_config.json');
  const sj = await readJson(IMPORT, schedulerPath);
  const className = typeof sj._class_name === 'string' ? sj._class_name : 'DDPMScheduler';
  if (!className.endsWith('Scheduler')) throw unetError(IMPORT, `${schedulerPath}: _class_name is ${JSON.stringify(sj._class_name)}; expected a diffusers scheduler such as 'DDPMScheduler'`);
  const schedule = scheduleFromDiffusers(sj, IMPORT, schedulerPath);
  const camelOpts: Record<string, unknown> = {};
  for (const k of SCHEDULER_OPTION_KEYS) if (sj[snake(k)] !== undefined && sj[snake(k)] !== null) camelOpts[k] = sj[snake(k)];
  const scheduler = { ...resolveSchedulerOptions(IMPORT, schedulerPath, camelOpts), className };
  const known = new Set([...BETA_KEYS, ...SCHEDULER_OPTION_KEYS.map(snake), '_class_name', '_diffusers_version']);
  const ignoredSchedulerKeys = Object.keys(sj).filter((k) => !known.has(k));
  const { config, params } = await importUNet(join(dir, 'unet'));
  return { config, params, schedule, scheduler, sampling: samplingFrom(scheduler), ignoredSchedulerKeys };
}
