// The configuration of diffusers' UNet2DModel, in camelCase, with diffusers' defaults; its
// validation; the mapping to and from diffusers' snake_case config.json; and the parameter
// spec: every tensor name of diffusers' state_dict() (registration order) with its shape and
// how PyTorch initialises it. The spec is the single source of the parameter layout: init
// builds the params tree from it, apply checks params against it, import/export use it.

export type DownBlockType = 'DownBlock2D' | 'AttnDownBlock2D';
export type UpBlockType = 'UpBlock2D' | 'AttnUpBlock2D';
export type UNetActivation = 'silu' | 'swish' | 'gelu' | 'relu';

/**
 * diffusers' UNet2DModel keyword arguments in camelCase. Every key is optional; the defaults
 * are diffusers' (`resolveUNet2DConfig` fills them in). Supported values only: anything
 * diffusers allows that this implementation does not (fourier / learned time embedding,
 * 'resnet' down/up sampling, other block types, class_embed_type 'timestep' / 'identity')
 * is rejected with an error naming the key.
 */
export interface UNet2DConfig {
  /** Height and width the model was trained on (informational, as in diffusers). Default null. */
  sampleSize?: number | readonly [number, number] | null;
  /** Default 3. */
  inChannels?: number;
  /** Default 3. */
  outChannels?: number;
  /** x -> 2x - 1 before the first conv. Default false. */
  centerInputSample?: boolean;
  /** Only 'positional' (sinusoidal). Default 'positional'. */
  timeEmbeddingType?: 'positional';
  /** Width of the time embedding; null = 4 * blockOutChannels[0]. Default null. */
  timeEmbeddingDim?: number | null;
  /** downscale_freq_shift of the sinusoids. Default 0. */
  freqShift?: number;
  /** [cos, sin] instead of [sin, cos]. Default true. */
  flipSinToCos?: boolean;
  /** Default ['DownBlock2D', 'AttnDownBlock2D', 'AttnDownBlock2D', 'AttnDownBlock2D']. */
  downBlockTypes?: readonly DownBlockType[];
  /** 'UNetMidBlock2D' or null (no mid block). Default 'UNetMidBlock2D'. */
  midBlockType?: 'UNetMidBlock2D' | null;
  /** Default ['AttnUpBlock2D', 'AttnUpBlock2D', 'AttnUpBlock2D', 'UpBlock2D']. */
  upBlockTypes?: readonly UpBlockType[];
  /** Default [224, 448, 672, 896]. */
  blockOutChannels?: readonly number[];
  /** Resnets per down block (up blocks get one more). Default 2. */
  layersPerBlock?: number;
  /** output_scale_factor of the mid block's resnets and rescale_output_factor of its attention. Default 1. */
  midBlockScaleFactor?: number;
  /** Padding of the stride-2 downsampling conv; 0 pads right and bottom by 1 first. Default 1. */
  downsamplePadding?: number;
  /** Only 'conv'. Default 'conv'. */
  downsampleType?: 'conv';
  /** Only 'conv'. Default 'conv'. */
  upsampleType?: 'conv';
  /** Dropout rate inside every resnet (between the two convs), active with apply's train: true. Default 0. */
  dropout?: number;
  /** Activation of the resnets ('silu' = 'swish'). The time MLP and the output always use SiLU, as in diffusers. Default 'silu'. */
  actFn?: UNetActivation;
  /** Channels per attention head; heads = floor(channels / attentionHeadDim). null = one head. Default 8. */
  attentionHeadDim?: number | null;
  /** Groups of every GroupNorm. Default 32. */
  normNumGroups?: number;
  /** Groups of the mid block attention's GroupNorm; null = normNumGroups with 'default' time scale shift, no norm with 'scale_shift'. Default null. */
  attnNormNumGroups?: number | null;
  /** eps of every GroupNorm. Default 1e-5. */
  normEps?: number;
  /** 'default' (add the projected time embedding) or 'scale_shift' (h * (1 + scale) + shift after norm2). Default 'default'. */
  resnetTimeScaleShift?: 'default' | 'scale_shift';
  /** Attention in the mid block. Default true. */
  addAttention?: boolean;
  /** Only null. Default null. */
  classEmbedType?: null;
  /** Number of rows of the class embedding (an nn.Embedding added to the time embedding); null = unconditional. Default null. */
  numClassEmbeds?: number | null;
  /** Only used by diffusers' 'learned' time embedding; kept for round trips. Default null. */
  numTrainTimesteps?: number | null;
}

export type ResolvedUNet2DConfig = {
  -readonly [K in keyof UNet2DConfig]-?: Exclude<UNet2DConfig[K], undefined>;
};

export const UNET2D_DEFAULTS: ResolvedUNet2DConfig = {
  sampleSize: null,
  inChannels: 3,
  outChannels: 3,
  centerInputSample: false,
  timeEmbeddingType: 'positional',
  timeEmbeddingDim: null,
  freqShift: 0,
  flipSinToCos: true,
  downBlockTypes: ['DownBlock2D', 'AttnDownBlock2D', 'AttnDownBlock2D', 'AttnDownBlock2D'],
  midBlockType: 'UNetMidBlock2D',
  upBlockTypes: ['AttnUpBlock2D', 'AttnUpBlock2D', 'AttnUpBlock2D', 'UpBlock2D'],
  blockOutChannels: [224, 448, 672, 896],
  layersPerBlock: 2,
  midBlockScaleFactor: 1,
  downsamplePadding: 1,
  downsampleType: 'conv',
  upsampleType: 'conv',
  dropout: 0,
  actFn: 'silu',
  attentionHeadDim: 8,
  normNumGroups: 32,
  attnNormNumGroups: null,
  normEps: 1e-5,
  resnetTimeScaleShift: 'default',
  addAttention: true,
  classEmbedType: null,
  numClassEmbeds: null,
  numTrainTimesteps: null,
};

const KEYS = Object.keys(UNET2D_DEFAULTS) as (keyof UNet2DConfig)[];

/** camelCase key -> diffusers' snake_case key. */
export function snakeKey(k: string): string {
  return k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** diffusers' snake_case key -> camelCase. */
export function camelKey(k: string): string {
  return k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

export function unetError(fn: string, msg: string): Error {
  return new Error(`${fn}: ${msg}`);
}

const show = (v: unknown): string => (typeof v === 'string' ? `'${v}'` : v === undefined ? 'undefined' : JSON.stringify(v));

function oneOf(fn: string, key: string, v: unknown, allowed: readonly unknown[], why = ''): void {
  if (!allowed.includes(v)) {
    throw unetError(fn, `config.${key} = ${show(v)} is not supported; expected ${allowed.map(show).join(' or ')}${why}`);
  }
}

function posInt(fn: string, key: string, v: unknown, min = 1): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw unetError(fn, `config.${key} must be an integer >= ${min}, got ${show(v)}`);
  }
  return v;
}

function finite(fn: string, key: string, v: unknown, positive = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || (positive && !(v > 0))) {
    throw unetError(fn, `config.${key} must be a ${positive ? 'positive' : 'finite'} number, got ${show(v)}`);
  }
  return v;
}

function bool(fn: string, key: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw unetError(fn, `config.${key} must be true or false, got ${show(v)}`);
  return v;
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length];
}

/**
 * Fill in diffusers' defaults and check every value. Throws `<fn>: config.<key> ...` for an
 * unknown key, an unsupported value or an inconsistent combination.
 */
export function resolveUNet2DConfig(config: UNet2DConfig | undefined, fn = 'unet2d'): ResolvedUNet2DConfig {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw unetError(fn, `config must be an object of UNet2DModel options (camelCase), got ${config === null ? 'null' : Array.isArray(config) ? 'an array' : typeof config}`);
  }
  for (const k of Object.keys(config)) {
    if (!(KEYS as string[]).includes(k)) {
      const hint = KEYS.find((c) => c.toLowerCase() === camelKey(k).toLowerCase()) ?? KEYS.find((c) => editDistance(c.toLowerCase(), k.toLowerCase()) <= 2);
      throw unetError(fn, `unknown config key '${k}'${hint ? ` (did you mean '${hint}'?)` : ''}; expected UNet2DModel options in camelCase: ${KEYS.join(', ')}`);
    }
  }
  const c = { ...UNET2D_DEFAULTS } as ResolvedUNet2DConfig;
  for (const k of KEYS) {
    const v = (config as Record<string, unknown>)[k];
    if (v !== undefined) (c as Record<string, unknown>)[k] = v;
  }
  // sampleSize: informational (diffusers only stores it), but it must be sane when given.
  if (c.sampleSize !== null) {
    const ss = c.sampleSize;
    const ok = (typeof ss === 'number' && Number.isInteger(ss) && ss >= 1) ||
      (Array.isArray(ss) && ss.length === 2 && ss.every((d) => Number.isInteger(d) && d >= 1));
    if (!ok) throw unetError(fn, `config.sampleSize must be null, a positive integer or [height, width], got ${show(ss)}`);
    if (Array.isArray(ss)) c.sampleSize = [ss[0], ss[1]];
  }
  posInt(fn, 'inChannels', c.inChannels);
  posInt(fn, 'outChannels', c.outChannels);
  bool(fn, 'centerInputSample', c.centerInputSample);
  oneOf(fn, 'timeEmbeddingType', c.timeEmbeddingType, ['positional'], " (diffusers' 'fourier' and 'learned' are not implemented)");
  if (c.timeEmbeddingDim !== null) posInt(fn, 'timeEmbeddingDim', c.timeEmbeddingDim);
  finite(fn, 'freqShift', c.freqShift);
  bool(fn, 'flipSinToCos', c.flipSinToCos);
  if (!Array.isArray(c.blockOutChannels) || c.blockOutChannels.length < 1) {
    throw unetError(fn, `config.blockOutChannels must be a non-empty array of positive integers, got ${show(c.blockOutChannels)}`);
  }
  c.blockOutChannels.forEach((ch, i) => posInt(fn, `blockOutChannels[${i}]`, ch));
  c.blockOutChannels = [...c.blockOutChannels];
  for (const [key, allowed] of [['downBlockTypes', ['DownBlock2D', 'AttnDownBlock2D']], ['upBlockTypes', ['UpBlock2D', 'AttnUpBlock2D']]] as const) {
    const list = c[key] as readonly string[];
    if (!Array.isArray(list)) throw unetError(fn, `config.${key} must be an array of block type names, got ${show(list)}`);
    list.forEach((b, i) => oneOf(fn, `${key}[${i}]`, b, allowed, ' (other diffusers block types are not implemented)'));
    (c as Record<string, unknown>)[key] = [...list];
  }
  const half = Math.floor(c.blockOutChannels[0] / 2);
  if (!(half - c.freqShift > 0)) {
    throw unetError(fn, `config.freqShift (${c.freqShift}) must be below blockOutChannels[0] / 2 (${half}): the sinusoid frequencies divide by their difference (diffusers would produce NaN)`);
  }
  const n = c.blockOutChannels.length;
  if (c.downBlockTypes.length !== n || c.upBlockTypes.length !== n) {
    throw unetError(fn, `config.downBlockTypes (${c.downBlockTypes.length}), config.upBlockTypes (${c.upBlockTypes.length}) and config.blockOutChannels (${n}) must have the same length (one entry per resolution)`);
  }
  oneOf(fn, 'midBlockType', c.midBlockType, ['UNetMidBlock2D', null]);
  posInt(fn, 'layersPerBlock', c.layersPerBlock);
  finite(fn, 'midBlockScaleFactor', c.midBlockScaleFactor, true);
  posInt(fn, 'downsamplePadding', c.downsamplePadding, 0);
  oneOf(fn, 'downsampleType', c.downsampleType, ['conv'], " ('resnet' is not implemented)");
  oneOf(fn, 'upsampleType', c.upsampleType, ['conv'], " ('resnet' is not implemented)");
  if (typeof c.dropout !== 'number' || !(c.dropout >= 0 && c.dropout < 1)) {
    throw unetError(fn, `config.dropout must be a number in [0, 1), got ${show(c.dropout)}`);
  }
  oneOf(fn, 'actFn', c.actFn, ['silu', 'swish', 'gelu', 'relu']);
  if (c.attentionHeadDim !== null) posInt(fn, 'attentionHeadDim', c.attentionHeadDim);
  if ((c.normNumGroups as unknown) === null) {
    throw unetError(fn, 'config.normNumGroups = null is not supported (diffusers cannot build its resnets without it either); expected a positive integer');
  }
  posInt(fn, 'normNumGroups', c.normNumGroups);
  if (c.attnNormNumGroups !== null) posInt(fn, 'attnNormNumGroups', c.attnNormNumGroups);
  finite(fn, 'normEps', c.normEps, true);
  oneOf(fn, 'resnetTimeScaleShift', c.resnetTimeScaleShift, ['default', 'scale_shift'], " ('spatial' is not implemented)");
  bool(fn, 'addAttention', c.addAttention);
  oneOf(fn, 'classEmbedType', c.classEmbedType, [null], " ('timestep' and 'identity' are not implemented; use numClassEmbeds for a learned class embedding)");
  if (c.numClassEmbeds !== null) posInt(fn, 'numClassEmbeds', c.numClassEmbeds);
  if (c.numTrainTimesteps !== null) posInt(fn, 'numTrainTimesteps', c.numTrainTimesteps);

  // Group norms: every channel count they see must be divisible by normNumGroups.
  const g = c.normNumGroups;
  for (const { name, channels, groups } of groupNormSites(c)) {
    if (channels % groups) {
      throw unetError(fn, `${name} has ${channels} channels, not divisible by ${groups === g ? 'config.normNumGroups' : 'config.attnNormNumGroups'} (${groups}); choose blockOutChannels that are multiples of it`);
    }
  }
  for (const { name, channels } of attentionSites(c)) {
    const hd = c.attentionHeadDim ?? channels;
    if (hd > channels) {
      throw unetError(fn, `config.attentionHeadDim (${hd}) is larger than the ${channels} channels of ${name}; diffusers would build an attention with 0 heads. Expected attentionHeadDim <= ${channels} or null (one head)`);
    }
  }
  return c;
}

export function timeEmbedDim(c: ResolvedUNet2DConfig): number {
  return c.timeEmbeddingDim ?? c.blockOutChannels[0] * 4;
}

// ------------------------------------------------------------------------------------------
// The architecture as a list of blocks (channels of every resnet), shared by spec and apply.

export interface ResnetSpec {
  inChannels: number;
  outChannels: number;
  outputScaleFactor: number;
}

export interface AttentionSpec {
  channels: number;
  heads: number;
  headDim: number;
  groupNorm: number | null;
  rescaleOutputFactor: number;
}

export interface DownSpec {
  resnets: ResnetSpec[];
  attentions: AttentionSpec[] | null;
  downsample: boolean;
  channels: number;
}

export interface UpSpec {
  resnets: ResnetSpec[];
  attentions: AttentionSpec[] | null;
  upsample: boolean;
  channels: number;
}

export interface MidSpec {
  resnets: ResnetSpec[];
  attentions: AttentionSpec[] | null;
}

export interface Architecture {
  down: DownSpec[];
  mid: MidSpec | null;
  up: UpSpec[];
  timeEmbedDim: number;
}

function attention(c: ResolvedUNet2DConfig, channels: number, groupNorm: number | null, rescale: number): AttentionSpec {
  const headDim = c.attentionHeadDim ?? channels;
  return { channels, heads: Math.floor(channels / headDim), headDim, groupNorm, rescaleOutputFactor: rescale };
}

/** The blocks diffusers' UNet2DModel.__init__ builds, with their channel counts. */
export function architecture(c: ResolvedUNet2DConfig): Architecture {
  const boc = c.blockOutChannels;
  const n = boc.length;
  const L = c.layersPerBlock;
  const down: DownSpec[] = [];
  let out = boc[0];
  for (let i = 0; i < n; i++) {
    const input = out;
    out = boc[i];
    const resnets = Array.from({ length: L }, (_, j) => ({ inChannels: j === 0 ? input : out, outChannels: out, outputScaleFactor: 1 }));
    const attn = c.downBlockTypes[i] === 'AttnDownBlock2D';
    down.push({
      resnets,
      attentions: attn ? resnets.map(() => attention(c, out, c.normNumGroups, 1)) : null,
      downsample: i < n - 1,
      channels: out,
    });
  }
  let mid: MidSpec | null = null;
  if (c.midBlockType !== null) {
    const ch = boc[n - 1];
    const s = c.midBlockScaleFactor;
    const attnGroups = c.attnNormNumGroups ?? (c.resnetTimeScaleShift === 'default' ? c.normNumGroups : null);
    mid = {
      resnets: [0, 1].map(() => ({ inChannels: ch, outChannels: ch, outputScaleFactor: s })),
      attentions: c.addAttention ? [attention(c, ch, attnGroups, s)] : null,
    };
  }
  const rev = [...boc].reverse();
  const up: UpSpec[] = [];
  out = rev[0];
  for (let i = 0; i < n; i++) {
    const prev = out;
    out = rev[i];
    const input = rev[Math.min(i + 1, n - 1)];
    const resnets = Array.from({ length: L + 1 }, (_, j) => {
      const skip = j === L ? input : out;
      const rin = j === 0 ? prev : out;
      return { inChannels: rin + skip, outChannels: out, outputScaleFactor: 1 };
    });
    const attn = c.upBlockTypes[i] === 'AttnUpBlock2D';
    up.push({
      resnets,
      attentions: attn ? resnets.map(() => attention(c, out, c.normNumGroups, 1)) : null,
      upsample: i < n - 1,
      channels: out,
    });
  }
  return { down, mid, up, timeEmbedDim: timeEmbedDim(c) };
}

function groupNormSites(c: ResolvedUNet2DConfig): { name: string; channels: number; groups: number }[] {
  const a = architecture(c);
  const g = c.normNumGroups;
  const sites: { name: string; channels: number; groups: number }[] = [];
  const blocks: [string, { resnets: ResnetSpec[]; attentions: AttentionSpec[] | null }][] = [
    ...a.down.map((b, i) => [`down_blocks.${i}`, b] as [string, DownSpec]),
    ...(a.mid ? [['mid_block', a.mid] as [string, MidSpec]] : []),
    ...a.up.map((b, i) => [`up_blocks.${i}`, b] as [string, UpSpec]),
  ];
  for (const [name, b] of blocks) {
    b.resnets.forEach((r, j) => {
      sites.push({ name: `${name}.resnets.${j}.norm1`, channels: r.inChannels, groups: g });
      sites.push({ name: `${name}.resnets.${j}.norm2`, channels: r.outChannels, groups: g });
    });
    b.attentions?.forEach((at, j) => {
      if (at.groupNorm !== null) sites.push({ name: `${name}.attentions.${j}.group_norm`, channels: at.channels, groups: at.groupNorm });
    });
  }
  sites.push({ name: 'conv_norm_out', channels: c.blockOutChannels[0], groups: g });
  return sites;
}

function attentionSites(c: ResolvedUNet2DConfig): { name: string; channels: number }[] {
  const a = architecture(c);
  const sites: { name: string; channels: number }[] = [];
  a.down.forEach((b, i) => b.attentions?.forEach((at, j) => sites.push({ name: `down_blocks.${i}.attentions.${j}`, channels: at.channels })));
  a.mid?.attentions?.forEach((at, j) => sites.push({ name: `mid_block.attentions.${j}`, channels: at.channels }));
  a.up.forEach((b, i) => b.attentions?.forEach((at, j) => sites.push({ name: `up_blocks.${i}.attentions.${j}`, channels: at.channels })));
  return sites;
}

// ------------------------------------------------------------------------------------------
// Parameter spec.

/** How PyTorch initialises a tensor: kaiming-uniform weight / fan-in bias (Conv2d, Linear), ones / zeros (GroupNorm), N(0, 1) (Embedding). */
export type InitKind = 'kaiming' | 'bias' | 'ones' | 'zeros' | 'normal';

export interface ParamSpec {
  name: string;
  shape: number[];
  init: InitKind;
  /** fan in for 'bias'. */
  fanIn?: number;
}

/**
 * Every tensor of diffusers' UNet2DModel(**config).state_dict(), in its order, with shapes.
 */
export function unet2dParamSpec(config: UNet2DConfig | ResolvedUNet2DConfig, fn = 'unet2d'): ParamSpec[] {
  const c = resolveUNet2DConfig(config as UNet2DConfig, fn);
  const a = architecture(c);
  const specs: ParamSpec[] = [];
  const conv = (name: string, cout: number, cin: number, k: number) => {
    specs.push({ name: `${name}.weight`, shape: [cout, cin, k, k], init: 'kaiming' });
    specs.push({ name: `${name}.bias`, shape: [cout], init: 'bias', fanIn: cin * k * k });
  };
  const lin = (name: string, out: number, inF: number) => {
    specs.push({ name: `${name}.weight`, shape: [out, inF], init: 'kaiming' });
    specs.push({ name: `${name}.bias`, shape: [out], init: 'bias', fanIn: inF });
  };
  const norm = (name: string, ch: number) => {
    specs.push({ name: `${name}.weight`, shape: [ch], init: 'ones' });
    specs.push({ name: `${name}.bias`, shape: [ch], init: 'zeros' });
  };
  const temb = a.timeEmbedDim;
  const resnet = (name: string, r: ResnetSpec) => {
    norm(`${name}.norm1`, r.inChannels);
    conv(`${name}.conv1`, r.outChannels, r.inChannels, 3);
    lin(`${name}.time_emb_proj`, c.resnetTimeScaleShift === 'scale_shift' ? 2 * r.outChannels : r.outChannels, temb);
    norm(`${name}.norm2`, r.outChannels);
    conv(`${name}.conv2`, r.outChannels, r.outChannels, 3);
    if (r.inChannels !== r.outChannels) conv(`${name}.conv_shortcut`, r.outChannels, r.inChannels, 1);
  };
  const attn = (name: string, s: AttentionSpec) => {
    if (s.groupNorm !== null) norm(`${name}.group_norm`, s.channels);
    const inner = s.heads * s.headDim;
    lin(`${name}.to_q`, inner, s.channels);
    lin(`${name}.to_k`, inner, s.channels);
    lin(`${name}.to_v`, inner, s.channels);
    lin(`${name}.to_out.0`, s.channels, inner);
  };
  const boc = c.blockOutChannels;
  conv('conv_in', boc[0], c.inChannels, 3);
  lin('time_embedding.linear_1', temb, boc[0]);
  lin('time_embedding.linear_2', temb, temb);
  if (c.numClassEmbeds !== null) specs.push({ name: 'class_embedding.weight', shape: [c.numClassEmbeds, temb], init: 'normal' });
  a.down.forEach((b, i) => {
    // diffusers registers attentions before resnets in AttnDownBlock2D / AttnUpBlock2D
    b.attentions?.forEach((s, j) => attn(`down_blocks.${i}.attentions.${j}`, s));
    b.resnets.forEach((r, j) => resnet(`down_blocks.${i}.resnets.${j}`, r));
    if (b.downsample) conv(`down_blocks.${i}.downsamplers.0.conv`, b.channels, b.channels, 3);
  });
  a.up.forEach((b, i) => {
    b.attentions?.forEach((s, j) => attn(`up_blocks.${i}.attentions.${j}`, s));
    b.resnets.forEach((r, j) => resnet(`up_blocks.${i}.resnets.${j}`, r));
    if (b.upsample) conv(`up_blocks.${i}.upsamplers.0.conv`, b.channels, b.channels, 3);
  });
  if (a.mid) {
    a.mid.attentions?.forEach((s, j) => attn(`mid_block.attentions.${j}`, s));
    a.mid.resnets.forEach((r, j) => resnet(`mid_block.resnets.${j}`, r));
  }
  norm('conv_norm_out', boc[0]);
  conv('conv_out', c.outChannels, boc[0], 3);
  return specs;
}

// ------------------------------------------------------------------------------------------
// diffusers config.json <-> UNet2DConfig

/** diffusers' config.json of a UNet2DModel (snake_case), with `_class_name`. */
export function toDiffusersUNetConfig(config: UNet2DConfig, diffusersVersion = '0.30.0'): Record<string, unknown> {
  const c = resolveUNet2DConfig(config, 'exportDiffusers');
  const out: Record<string, unknown> = { _class_name: 'UNet2DModel', _diffusers_version: diffusersVersion };
  for (const k of KEYS) {
    const v = c[k];
    out[snakeKey(k)] = Array.isArray(v) ? [...v] : v;
  }
  return out;
}

/** Keys of a diffusers UNet2DModel config.json that carry no architecture (ignored on import). */
const IGNORED_DIFFUSERS_KEYS = new Set(['_class_name', '_diffusers_version', '_name_or_path', '_use_default_values']);

/**
 * A UNet2DConfig from diffusers' config.json object. Keys this implementation does not know
 * are an error naming the key (unless their value is diffusers' default, e.g. null), so a
 * model that would compute something else is never loaded silently.
 */
export function fromDiffusersUNetConfig(json: Record<string, unknown>, fn = 'importDiffusers', where = 'unet/config.json'): ResolvedUNet2DConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw unetError(fn, `${where}: expected a JSON object`);
  if (json._class_name !== undefined && json._class_name !== 'UNet2DModel') {
    throw unetError(fn, `${where}: _class_name is ${show(json._class_name)}; expected 'UNet2DModel' (other model classes are not supported)`);
  }
  const cfg: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(json)) {
    if (IGNORED_DIFFUSERS_KEYS.has(k)) continue;
    const ck = camelKey(k);
    if (!(KEYS as string[]).includes(ck)) {
      if (v === null) continue; // an unused optional feature left at its default
      throw unetError(fn, `${where}: key '${k}' = ${show(v)} is not supported by this UNet2DModel implementation; supported keys: ${KEYS.map(snakeKey).join(', ')}`);
    }
    cfg[ck] = v;
  }
  try {
    return resolveUNet2DConfig(cfg as UNet2DConfig, fn);
  } catch (e) {
    const msg = (e as Error).message;
    throw unetError(fn, `${where}: ${msg.startsWith(`${fn}: `) ? msg.slice(fn.length + 2).replace(/config\.([A-Za-z]+)/g, (_, k: string) => snakeKey(k)) : msg}`);
  }
}
