// @tapegrad/autograd: tape-based reverse mode with functional transforms over pytrees.

export { grad, valueAndGrad, vjp, jvp, hvp, stopGradient, customVjp, noGrad, type VjpFn, type ValueAndGradOptions } from './transforms.ts';
export { gradcheck, gradgradcheck, TOLERANCES, type GradcheckOptions, type GradcheckReport, type GradcheckMismatch } from './gradcheck.ts';
export { differentiablePrimitives } from './rules.ts';
export { Tape, unbroadcast } from './tape.ts';
