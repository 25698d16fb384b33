// @tapegrad/nn: functional layers (init(key, cfg) -> params; apply(params, x, opts) -> y),
// composition, optimizers, schedules, EMA and safetensors checkpoints.

export { type Context, type Module, type Layer, type ParamsOf, type SequentialParams, sequential } from './module.ts';
export { linear, mlp, type LinearConfig, type LinearParams, type MlpConfig, type MlpParams } from './linear.ts';
export {
  conv2d, convTranspose2d, type ConvParams, type Conv2dConfig, type Conv2dApplyOptions,
  type ConvTranspose2dConfig, type ConvTranspose2dApplyOptions,
} from './conv.ts';
export {
  groupNorm, layerNorm, normalize, type NormParams, type GroupNormConfig, type GroupNormApplyOptions,
  type LayerNormConfig, type LayerNormApplyOptions,
} from './norm.ts';
export { embedding, sinusoidalEmbedding, type EmbeddingConfig, type EmbeddingParams, type SinusoidalOptions } from './embedding.ts';
export {
  relu, silu, gelu, tanh, sigmoid, identity, activationFn, dropout, flatten, upsample, maxPool2d, avgPool2d,
  type ActivationName, type ParameterlessLayer, type DropoutOptions, type UpsampleOptions, type PoolOptions,
} from './activations.ts';
export {
  multiHeadSelfAttention, scaledDotProductAttention, stableSoftmax, type AttentionOptions,
  type MultiHeadSelfAttentionConfig, type MultiHeadSelfAttentionParams, type MultiHeadSelfAttentionApplyOptions,
} from './attention.ts';
export { fanInOut, uniform, kaimingUniform, xavierUniform, biasUniform, normal, type KaimingOptions } from './init.ts';
export {
  sgd, adam, adamw, globalNorm, clipByGlobalNorm,
  type Optimizer, type Schedule, type LearningRate, type DecayMask, type SgdConfig, type SgdState, type AdamConfig, type AdamState,
  type OptScalars, type OptScalarArgs,
} from './optim.ts';
export {
  constantSchedule, linearSchedule, linearWarmup, cosineDecay, warmupCosineDecay,
  type LinearScheduleConfig, type WarmupConfig, type CosineDecayConfig, type WarmupCosineConfig,
} from './schedules.ts';
export { ema, type Ema, type EmaConfig, type EmaState, type EmaScalars, type EmaScalarArgs } from './ema.ts';
export {
  saveSafetensors, loadSafetensors, loadSafetensorsInto, serializeSafetensors, parseSafetensors, treeToEntries, entriesToTree, writeFileAtomic,
  SafetensorsError, type SafetensorsErrorCode, type SafetensorsEntry, type ParsedSafetensors, type LoadedSafetensors, type LoadIntoOptions,
} from './safetensors.ts';
export { countParams, describeTree, disposeReplaced, type Tree, type NoParams } from './util.ts';
