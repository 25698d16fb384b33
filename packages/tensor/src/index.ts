// @tapegrad/tensor: tensors whose ops run as gpu.js kernels (webasm / webgpu / cpu) or on
// the float64 reference backend.

import './sugar.ts';

export { Tensor, isTensor, isIntegerValued, toNested, type NestedArray } from './tensor.ts';
export {
  memory, kernelBuilds, setBackend, getBackend, useBackend, ready, currentBackend, findBackend,
  type PrimitiveCall, type PrimitiveObserver,
} from './engine.ts';
export { tidy, keep, dispose, creationMark, createdSince, disposeCreatedSince } from './scope.ts';
export { observePrimitives, clone, shareBuffer } from './dispatch.ts';
export type { Backend, BackendName, UnaryOp, BinaryOp, Conv2dAttrs, ConvTranspose2dAttrs, Pool2dAttrs, GroupNormAttrs } from './backend.ts';
export { type TensorLike } from './ops/creation.ts';
export { type Axes } from './ops/reduce.ts';
export { type GroupNormOptions } from './ops/norm.ts';
export { type Conv2dOptions, type ConvTranspose2dOptions, type Pool2dOptions, type Pair } from './ops/conv.ts';
export { RandomKey, threefry2x32 } from './random.ts';
export { setThreads, getThreads, type ThreadSettings, type ThreadStatus } from './backends/gpujs-patch.ts';
// every op, wrapped as a public op (argument checks; errors name the op the user called)
export * from './api.ts';
export { treeFlatten, treeFlattenWithPath, treeUnflatten, treeMap, treeLeaves, sameStructure, type TreeDef } from './tree.ts';
export { broadcastShapes, sizeOf } from './shape.ts';
export {
  opError, OpError, withOp, publicOp, currentPublicOp, isPlainObject, fmtShape, fmtValue, describeValue, checkTensor, checkNumber, checkInt,
  checkFunction, collectTensors, type ArgKind,
} from './errors.ts';
// the execution-level hook (@tapegrad/compile records and replays steps through it)
export {
  setExecutionTracer, executionTracer, backendOf, storageOf, tensorFromStorage, viewOf, holdStorage,
  type ExecutionTracer,
} from './trace.ts';
export type { Storage, ReduceOp, ArgReduceOp, FusedNode, FusedRef } from './backend.ts';
export { markIntegerValued } from './tensor.ts';
export { checkIndexValues } from './ops/movement.ts';
// gpu.js kernel capture and pipelines (the compile package's experimental pipeline executor)
export { KernelToken, type KernelCall, type GpuPipeline } from './backends/gpujs.ts';
