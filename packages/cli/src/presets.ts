// Named presets of `tapegrad train`. Flags given on the command line override a preset's values.

import type { DenoiserConfig } from './twod/denoiser.ts';

export interface Preset {
  description: string;
  data: string;
  steps: number;
  batchSize: number;
  lr: number;
  seed: number;
  imageSize?: number;
  conditional?: boolean;
  backend?: string;
  denoiser?: DenoiserConfig;
  emaDecay?: number;
  logEvery?: number;
  sampleEvery?: number;
  checkpointEvery?: number;
  /** Set when the preset needs parts this build does not have yet. */
  unavailable?: string;
}

const IMAGE_MODEL_MISSING = 'image training needs the diffusers UNet2DModel and the image training loop, which are not part of this build yet';

export const PRESETS: Record<string, Preset> = {
  quick: {
    description: 'two moons, MLP 3x64 with Fourier features of x, 5000 steps of batch 256 (the former `npm run demo`; about 2-3 min on 2 CPU cores)',
    data: 'moons', steps: 5000, batchSize: 256, lr: 6e-3, seed: 0,
    denoiser: { dim: 2, hidden: 64, layers: 3, timeEmbedDim: 32, xEmbedDim: 16, xEmbedScale: 25 },
    emaDecay: 0.995, logEvery: 100, sampleEvery: 1000, checkpointEvery: 1000,
  },
  mnist14: {
    description: 'class-conditional MNIST at 14x14 with classifier-free guidance (small UNet)',
    data: 'mnist', steps: 20000, batchSize: 64, lr: 2e-4, seed: 0, imageSize: 14, conditional: true, unavailable: IMAGE_MODEL_MISSING,
  },
  'mnist28-gpu': {
    description: 'class-conditional MNIST at 28x28 for a GPU (webgpu backend)',
    data: 'mnist', steps: 50000, batchSize: 128, lr: 2e-4, seed: 0, imageSize: 28, conditional: true, backend: 'webgpu', unavailable: IMAGE_MODEL_MISSING,
  },
};

export const PRESET_NAMES = Object.keys(PRESETS);
