// Named presets of `tapegrad train`. Flags given on the command line override a preset's values.

import type { DenoiserConfig, UNet2DConfig } from '@tapegrad/ddpm';

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
  unet?: UNet2DConfig;
  emaDecay?: number;
  logEvery?: number;
  sampleEvery?: number;
  checkpointEvery?: number;
}

export const PRESETS: Record<string, Preset> = {
  quick: {
    description: 'two moons, MLP 3x64 with Fourier features of x, 5000 steps of batch 256 (the former `npm run demo`; about 2-3 min on 2 CPU cores)',
    data: 'moons', steps: 5000, batchSize: 256, lr: 6e-3, seed: 0,
    denoiser: { dim: 2, hidden: 64, layers: 3, timeEmbedDim: 32, xEmbedDim: 16, xEmbedScale: 25 },
    emaDecay: 0.995, logEvery: 100, sampleEvery: 1000, checkpointEvery: 1000,
  },
  mnist14: {
    description: 'class-conditional MNIST at 14x14 on a CPU: UNet2DModel 16/32 channels (attention at 7x7, 0.18 M parameters), CFG with a learned null class; 1500 steps of batch 32 at lr 2e-3 (measured in the README: time, images/s, classifier accuracy of guided samples, Frechet distance)',
    data: 'mnist', steps: 1500, batchSize: 32, lr: 2e-3, seed: 0, imageSize: 14, conditional: true,
    unet: {
      sampleSize: 14, inChannels: 1, outChannels: 1, layersPerBlock: 1, blockOutChannels: [16, 32],
      downBlockTypes: ['DownBlock2D', 'AttnDownBlock2D'], upBlockTypes: ['AttnUpBlock2D', 'UpBlock2D'], normNumGroups: 8, numClassEmbeds: 11,
    },
    emaDecay: 0.998, logEvery: 25, sampleEvery: 250, checkpointEvery: 250,
  },
  'mnist28-gpu': {
    description: 'class-conditional MNIST at 28x28 for a GPU (webgpu): UNet2DModel 64/128/128 channels, attention at 7x7; 20000 steps of batch 128 (not yet measured: no GPU was lent)',
    data: 'mnist', steps: 20000, batchSize: 128, lr: 2e-4, seed: 0, imageSize: 28, conditional: true, backend: 'webgpu',
    unet: {
      sampleSize: 28, inChannels: 1, outChannels: 1, layersPerBlock: 2, blockOutChannels: [64, 128, 128],
      downBlockTypes: ['DownBlock2D', 'DownBlock2D', 'AttnDownBlock2D'], upBlockTypes: ['AttnUpBlock2D', 'UpBlock2D', 'UpBlock2D'], normNumGroups: 32, numClassEmbeds: 11,
    },
    emaDecay: 0.9995, logEvery: 100, sampleEvery: 2000, checkpointEvery: 1000,
  },
};

export const PRESET_NAMES = Object.keys(PRESETS);
