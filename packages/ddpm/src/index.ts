// @tapegrad/ddpm public entry.
//
// Top level: the float64 schedules and timestep lists, and the tensor API (forward process,
// parameterizations, losses, guidance, single steps, samplers, variational bound).
// `f64`: the float64 reference formulas (numbers / Float64Arrays, no tensors) that the tensor
// code mirrors and that reproduce shared/ddpm-golden.json to 1e-12.

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
  train, dropLabels, TrainDivergedError, type StepMetrics, type TrainOptions, type TrainResult,
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
export { bitsPerDim, type BitsPerDimOptions } from './eval/bpd.ts';
export {
  qSample, x0FromEps, epsFromX0, vFromX0Eps, x0FromV, epsFromV, predictionToX0Eps, predictionTarget, type PredictionType,
} from './process/forward.ts';
export { diffusionLoss, minSnrWeights, sampleTimesteps, type DiffusionLossOptions } from './process/loss.ts';
export {
  classifierFreeGuidance, rescaleNoiseCfg, stdPerSample, clipX0, dynamicThreshold, dynamicThresholdScales, applyThreshold,
  type DynamicThresholdOptions,
} from './sampling/guidance.ts';
export {
  posteriorMean, ddpmStep, ddimStep, dpmSolverPlusPlusCoefficients, dpmSolverPlusPlusStep, eulerStep,
} from './sampling/steps.ts';
export {
  normalKl, approxStandardNormalCdf, discretizedGaussianLogLikelihood, priorBpd, vbTermBpd, variationalBound,
  learnedRangeLogVariance, modelLogVariance, type BoundOptions,
} from './process/vlb.ts';
export {
  sample, type SampleOptions, type StepInfo, type ClipOption, type GuidanceOptions,
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
