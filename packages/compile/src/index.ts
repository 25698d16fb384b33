// @tapegrad/compile: trace a pure training/sampling step once per argument-shape
// signature and replay it directly on the backend (fused elementwise chains included).

export { compileStep, type CompileOptions, type CompileReport, type CompiledStep } from './compile.ts';
export type { PlanStats } from './plan.ts';
