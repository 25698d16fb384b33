// The public ops: each function of the package's API is its implementation wrapped by
// publicOp (errors.ts), which checks the declared arguments (a Tensor where a tensor is
// required, no missing required argument) and makes every error raised inside, by an
// internal op or by the backend, start with the op the user called: `softmax: max: ...`,
// `add: binary: ...`. Internal code calls the implementations directly.

import { publicOp } from './errors.ts';

import * as C from './ops/creation.ts';
import * as E from './ops/elementwise.ts';
import * as R from './ops/reduce.ts';
import * as LA from './ops/linalg.ts';
import * as M from './ops/movement.ts';
import * as CV from './ops/conv.ts';
import * as NM from './ops/norm.ts';
import * as RN from './random.ts';

// ./ops/creation.ts
export const tensor = publicOp('tensor', C.tensor, ['values:required']);
export const scalar = publicOp('scalar', C.scalar, ['value:required']);
export const zeros = publicOp('zeros', C.zeros, ['shape:required']);
export const ones = publicOp('ones', C.ones, ['shape:required']);
export const full = publicOp('full', C.full, ['shape:required', 'value:required']);
export const zerosLike = publicOp('zerosLike', C.zerosLike, ['t:tensor']);
export const onesLike = publicOp('onesLike', C.onesLike, ['t:tensor']);
export const fullLike = publicOp('fullLike', C.fullLike, ['t:tensor', 'value:required']);
export const arange = publicOp('arange', C.arange, ['start:required']);
export const linspace = publicOp('linspace', C.linspace, ['start:required', 'stop:required', 'num:required']);

// ./ops/elementwise.ts
export const neg = publicOp('neg', E.neg, ['x:tensorLike']);
export const abs = publicOp('abs', E.abs, ['x:tensorLike']);
export const sign = publicOp('sign', E.sign, ['x:tensorLike']);
export const exp = publicOp('exp', E.exp, ['x:tensorLike']);
export const log = publicOp('log', E.log, ['x:tensorLike']);
export const sqrt = publicOp('sqrt', E.sqrt, ['x:tensorLike']);
export const rsqrt = publicOp('rsqrt', E.rsqrt, ['x:tensorLike']);
export const square = publicOp('square', E.square, ['x:tensorLike']);
export const reciprocal = publicOp('reciprocal', E.reciprocal, ['x:tensorLike']);
export const sin = publicOp('sin', E.sin, ['x:tensorLike']);
export const cos = publicOp('cos', E.cos, ['x:tensorLike']);
export const tanh = publicOp('tanh', E.tanh, ['x:tensorLike']);
export const sigmoid = publicOp('sigmoid', E.sigmoid, ['x:tensorLike']);
export const relu = publicOp('relu', E.relu, ['x:tensorLike']);
export const silu = publicOp('silu', E.silu, ['x:tensorLike']);
export const gelu = publicOp('gelu', E.gelu, ['x:tensorLike']);
export const erf = publicOp('erf', E.erf, ['x:tensorLike']);
export const floor = publicOp('floor', E.floor, ['x:tensorLike']);
export const step = publicOp('step', E.step, ['x:tensorLike']);
export const add = publicOp('add', E.add, ['a:tensorLike', 'b:tensorLike']);
export const sub = publicOp('sub', E.sub, ['a:tensorLike', 'b:tensorLike']);
export const mul = publicOp('mul', E.mul, ['a:tensorLike', 'b:tensorLike']);
export const div = publicOp('div', E.div, ['a:tensorLike', 'b:tensorLike']);
export const pow = publicOp('pow', E.pow, ['a:tensorLike', 'b:tensorLike']);
export const maximum = publicOp('maximum', E.maximum, ['a:tensorLike', 'b:tensorLike']);
export const minimum = publicOp('minimum', E.minimum, ['a:tensorLike', 'b:tensorLike']);
export const greater = publicOp('greater', E.greater, ['a:tensorLike', 'b:tensorLike']);
export const greaterEqual = publicOp('greaterEqual', E.greaterEqual, ['a:tensorLike', 'b:tensorLike']);
export const less = publicOp('less', E.less, ['a:tensorLike', 'b:tensorLike']);
export const lessEqual = publicOp('lessEqual', E.lessEqual, ['a:tensorLike', 'b:tensorLike']);
export const equal = publicOp('equal', E.equal, ['a:tensorLike', 'b:tensorLike']);
export const notEqual = publicOp('notEqual', E.notEqual, ['a:tensorLike', 'b:tensorLike']);
export const where = publicOp('where', E.where, ['cond:tensorLike', 'a:tensorLike', 'b:tensorLike']);
export const clip = publicOp('clip', E.clip, ['x:tensorLike', 'lo:tensorLike', 'hi:tensorLike']);

// ./ops/reduce.ts
export const sum = publicOp('sum', R.sum, ['x:tensor']);
export const max = publicOp('max', R.max, ['x:tensor']);
export const min = publicOp('min', R.min, ['x:tensor']);
export const mean = publicOp('mean', R.mean, ['x:tensor']);
export const variance = publicOp('variance', R.variance, ['x:tensor']);
export const logsumexp = publicOp('logsumexp', R.logsumexp, ['x:tensor']);
export const softmax = publicOp('softmax', R.softmax, ['x:tensor']);
export const logSoftmax = publicOp('logSoftmax', R.logSoftmax, ['x:tensor']);
export const argmax = publicOp('argmax', R.argmax, ['x:tensor']);
export const argmin = publicOp('argmin', R.argmin, ['x:tensor']);

// ./ops/linalg.ts
export const matmul = publicOp('matmul', LA.matmul, ['a:tensor', 'b:tensor']);

// ./ops/movement.ts
export const reshape = publicOp('reshape', M.reshape, ['x:tensor', 'shape:required']);
export const flatten = publicOp('flatten', M.flatten, ['x:tensor']);
export const expandDims = publicOp('expandDims', M.expandDims, ['x:tensor']);
export const squeeze = publicOp('squeeze', M.squeeze, ['x:tensor']);
export const transpose = publicOp('transpose', M.transpose, ['x:tensor']);
export const broadcastTo = publicOp('broadcastTo', M.broadcastTo, ['x:tensor', 'shape:required']);
export const slice = publicOp('slice', M.slice, ['x:tensor', 'begin:required']);
export const concat = publicOp('concat', M.concat, ['xs:tensors']);
export const stack = publicOp('stack', M.stack, ['xs:tensors']);
export const pad = publicOp('pad', M.pad, ['x:tensor', 'pads:required']);
export const gather = publicOp('gather', M.gather, ['x:tensor', 'indices:required']);
export const scatterAdd = publicOp('scatterAdd', M.scatterAdd, ['g:tensor', 'indices:required', 'axis:required', 'dimSize:required']);
export const oneHot = publicOp('oneHot', M.oneHot, ['indices:required', 'depth:required']);

// ./ops/conv.ts
export const conv2d = publicOp('conv2d', CV.conv2d, ['x:tensor', 'w:tensor']);
export const convTranspose2d = publicOp('convTranspose2d', CV.convTranspose2d, ['x:tensor', 'w:tensor']);
export const conv2dFilterGrad = publicOp('conv2dFilterGrad', CV.conv2dFilterGrad, ['x:tensor', 'dy:tensor', 'wShape:required']);
export const maxPool2d = publicOp('maxPool2d', CV.maxPool2d, ['x:tensor', 'kernel:required']);
export const maxPool2dGather = publicOp('maxPool2dGather', CV.maxPool2dGather, ['x:tensor', 'v:tensor', 'kernel:required']);
export const maxPool2dScatter = publicOp('maxPool2dScatter', CV.maxPool2dScatter, ['x:tensor', 'g:tensor', 'kernel:required']);
export const avgPool2d = publicOp('avgPool2d', CV.avgPool2d, ['x:tensor', 'kernel:required']);
export const upsampleNearest2d = publicOp('upsampleNearest2d', CV.upsampleNearest2d, ['x:tensor']);

// ./ops/norm.ts
export const groupNorm = publicOp('groupNorm', NM.groupNorm, ['x:tensor', 'groups:required']);
export const groupNormGrad = publicOp('groupNormGrad', NM.groupNormGrad, ['x:tensor', 'g:tensor', 'groups:required']);
export const groupNormParamGrad = publicOp('groupNormParamGrad', NM.groupNormParamGrad, ['x:tensor', 'g:tensor', 'groups:required']);
export const groupNormBackward = publicOp('groupNormBackward', NM.groupNormBackward, ['x:tensor', 'g:tensor', 'groups:required']);

// ./random.ts
export const randomKey = publicOp('randomKey', RN.randomKey, ['seed:required']);
export const splitKey = publicOp('splitKey', RN.splitKey, ['key:required']);
export const foldIn = publicOp('foldIn', RN.foldIn, ['key:required', 'data:required']);
export const randomNormal = publicOp('randomNormal', RN.randomNormal, ['key:required', 'shape:required']);
export const randomUniform = publicOp('randomUniform', RN.randomUniform, ['key:required', 'shape:required']);
export const randomInt = publicOp('randomInt', RN.randomInt, ['key:required', 'shape:required', 'lo:required', 'hi:required']);
