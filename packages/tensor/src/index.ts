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
export type { Backend, BackendName, UnaryOp, BinaryOp, Conv2dAttrs, ConvTranspose2dAttrs, Pool2dAttrs } from './backend.ts';
export { tensor, scalar, zeros, ones, full, zerosLike, onesLike, fullLike, arange, linspace, type TensorLike } from './ops/creation.ts';
export * from './ops/elementwise.ts';
export { sum, max, min, mean, variance, logsumexp, softmax, logSoftmax, argmax, argmin, type Axes } from './ops/reduce.ts';
export { matmul } from './ops/linalg.ts';
export {
  reshape, flatten, expandDims, squeeze, transpose, broadcastTo, slice, concat, stack, pad, gather, scatterAdd, oneHot,
} from './ops/movement.ts';
export {
  conv2d, convTranspose2d, conv2dFilterGrad, maxPool2d, maxPool2dGather, maxPool2dScatter, avgPool2d, upsampleNearest2d,
  type Conv2dOptions, type ConvTranspose2dOptions, type Pool2dOptions, type Pair,
} from './ops/conv.ts';
export { RandomKey, randomKey, splitKey, foldIn, randomNormal, randomUniform, randomInt, threefry2x32 } from './random.ts';
export { treeFlatten, treeFlattenWithPath, treeUnflatten, treeMap, treeLeaves, sameStructure, type TreeDef } from './tree.ts';
export { broadcastShapes, sizeOf } from './shape.ts';
export {
  opError, OpError, withOp, publicOp, currentPublicOp, fmtShape, fmtValue, describe, checkTensor, checkNumber, checkInt,
  checkFunction, collectTensors, type ArgKind,
} from './errors.ts';
