// @tapegrad/ddpm public entry.
//
// Top level: the float64 schedules and timestep lists, and the tensor API (forward process,
// parameterizations, losses, guidance, single steps, samplers, variational bound).
// `f64`: the float64 reference formulas (numbers / Float64Arrays, no tensors) that the tensor
// code mirrors and that reproduce shared/ddpm-golden.json to 1e-12.

import { publicOp } from '@tapegrad/tensor';
import * as forward from './process/forward.ts';
import * as loss from './process/loss.ts';
import * as guidance from './sampling/guidance.ts';
import * as steps from './sampling/steps.ts';

export * from './schedule/schedule.ts';
export * from './schedule/timesteps.ts';
export { linspace, linspaceFloat32, roundHalfEven } from './schedule/numeric.ts';
export * as f64 from './f64/formulas.ts';
export type { DdpmVarianceType } from './f64/formulas.ts';

export { type Timesteps, type Coef } from './process/coef.ts';
export { type Model } from './models/model.ts';
export { type Denoiser, type DenoiserApplyOptions, denoiserAsModel } from './models/denoiser.ts';
export {
  mlpDenoiser, initDenoiser, applyDenoiser, denoiserModel, DEFAULT_DENOISER, type DenoiserConfig,
} from './models/mlp.ts';
export {
  DATASETS, makeDataset, toy2dSource, twoMoons, swissRoll, eightGaussians, ring, hostUniform, hostNormal, type DatasetName,
} from './data/toy2d.ts';
export {
  train, dropLabels, trainExecutor, TrainDivergedError, type TrainExecutor, type StepMetrics, type TrainOptions, type TrainResult,
} from './train/train.ts';
export {
  resolveTrainConfig, configDifferences, scheduleOf, type TrainConfig, type ResolvedTrainConfig, type ScheduleSpec,
} from './train/config.ts';
export { arraySource, epochPermutation, nextBatchIndices, type DataSource, type DataCursor } from './train/data.ts';
export {
  saveCheckpoint, loadCheckpoint, loadTrainedModel, readCheckpointState, listCheckpoints, latestCheckpoint, resolveCheckpoint,
  CHECKPOINT_FORMAT, CHECKPOINT_VERSION, type CheckpointState, type CheckpointTensors,
} from './train/checkpoint.ts';
export { mmdRbf } from './eval/mmd.ts';
export { energyDistance } from './eval/energy.ts';
export { frechetDistance, frechetDistanceOfFeatures, featureStats, symmetricEigen, sqrtPsd } from './eval/frechet.ts';
export { bitsPerDim, boundStrata, type BitsPerDimOptions } from './eval/bpd.ts';
// The synchronous tensor functions run as public ops (@tapegrad/tensor's publicOp): an error of
// a tensor op inside them starts with the function the user called (`diffusionLoss: add: ...`).
export const qSample = publicOp('qSample', forward.qSample);
export const x0FromEps = publicOp('x0FromEps', forward.x0FromEps);
export const epsFromX0 = publicOp('epsFromX0', forward.epsFromX0);
export const vFromX0Eps = publicOp('vFromX0Eps', forward.vFromX0Eps);
export const x0FromV = publicOp('x0FromV', forward.x0FromV);
export const epsFromV = publicOp('epsFromV', forward.epsFromV);
export const predictionToX0Eps = publicOp('predictionToX0Eps', forward.predictionToX0Eps);
export const predictionTarget = publicOp('predictionTarget', forward.predictionTarget);
export type { PredictionType } from './process/forward.ts';
export const diffusionLoss = publicOp('diffusionLoss', loss.diffusionLoss);
export const diffusionLossWith = publicOp('diffusionLoss', loss.diffusionLossWith);
export const lossCoefficients = loss.lossCoefficients;
export const uploadLossCoefficients = loss.uploadLossCoefficients;
export const minSnrWeights = publicOp('minSnrWeights', loss.minSnrWeights);
export const sampleTimesteps = publicOp('sampleTimesteps', loss.sampleTimesteps);
export type { DiffusionLossOptions, LossCoefficients, HostLossCoefficients } from './process/loss.ts';
export const classifierFreeGuidance = publicOp('classifierFreeGuidance', guidance.classifierFreeGuidance);
export const rescaleNoiseCfg = publicOp('rescaleNoiseCfg', guidance.rescaleNoiseCfg);
export const stdPerSample = publicOp('stdPerSample', guidance.stdPerSample);
export const clipX0 = publicOp('clipX0', guidance.clipX0);
export const dynamicThreshold = publicOp('dynamicThreshold', guidance.dynamicThreshold);
export const dynamicThresholdScales = publicOp('dynamicThresholdScales', guidance.dynamicThresholdScales);
export const applyThreshold = publicOp('applyThreshold', guidance.applyThreshold);
export type { DynamicThresholdOptions } from './sampling/guidance.ts';
export const posteriorMean = publicOp('posteriorMean', steps.posteriorMean);
export const ddpmStep = publicOp('ddpmStep', steps.ddpmStep);
export const ddimStep = publicOp('ddimStep', steps.ddimStep);
export const dpmSolverPlusPlusCoefficients = steps.dpmSolverPlusPlusCoefficients;
export const dpmSolverPlusPlusStep = publicOp('dpmSolverPlusPlusStep', steps.dpmSolverPlusPlusStep);
export const eulerStep = publicOp('eulerStep', steps.eulerStep);
export {
  normalKl, approxStandardNormalCdf, discretizedGaussianLogLikelihood, priorBpd, vbTermBpd, variationalBound,
  learnedRangeLogVariance, modelLogVariance, type BoundOptions,
} from './process/vlb.ts';
export {
  sample, type SampleOptions, type SampleExecutor, type StepInfo, type ClipOption, type GuidanceOptions,
} from './sampling/sample.ts';
export {
  SAMPLERS, alphaBarAt, odeAlphaBarAt, type SamplerName, type SamplingPlan, type Sampler, type SamplerRun, type SamplerStepArgs,
  type SamplerStepResult,
} from './sampling/sampler.ts';
export { samplingPlan, getSampler } from './sampling/plan.ts';
export { ddpmSampler, type DdpmSamplerOptions } from './sampling/ddpm.ts';
export { ddimSampler, type DdimSamplerOptions } from './sampling/ddim.ts';
export { dpmSolverPlusPlusSampler } from './sampling/dpmsolver.ts';
export { eulerSampler } from './sampling/euler.ts';
export {
  unet2d, checkUNet2DParams, type UNet2DParams, type UNet2DApplyOptions, type UNet2DModule, type UNet2DModel,
  type ResnetBlock2DParams, type AttentionParams, type DownBlockParams, type UpBlockParams, type MidBlockParams,
} from './models/unet2d.ts';
export {
  UNET2D_DEFAULTS, type UNet2DConfig, type ResolvedUNet2DConfig, type DownBlockType, type UpBlockType, type UNetActivation,
} from './models/unet2d-config.ts';
export {
  exportDiffusers, importDiffusers, scheduleToDiffusers, scheduleFromDiffusers, diffusersSchedulerConfig, DIFFUSERS_FORMAT_VERSION,
  type ExportDiffusersInput, type ImportedDiffusers, type DiffusersSchedulerOptions, type ResolvedSchedulerOptions,
  type DiffusersSamplingOptions, type DiffusersPredictionType, type DiffusersVarianceType, type DiffusersSpacing,
} from './models/diffusers.ts';
