// Small float64 helpers that reproduce what numpy / Python / torch do bit-for-bit where the
// reference implementations depend on it (linspace endpoints, half-to-even rounding).

/**
 * numpy.linspace(start, stop, num) (endpoint=True) in float64:
 * y[i] = i*step + start with step = (stop-start)/(num-1), and y[num-1] = stop exactly.
 * num = 1 gives [start], as numpy does.
 */
export function linspace(start: number, stop: number, num: number): Float64Array {
  if (!Number.isInteger(num) || num < 1) {
    throw new Error(`linspace: num must be an integer >= 1, got ${num}`);
  }
  const y = new Float64Array(num);
  if (num === 1) {
    y[0] = start;
    return y;
  }
  const step = (stop - start) / (num - 1);
  for (let i = 0; i < num; i++) y[i] = i * step + start;
  y[num - 1] = stop;
  return y;
}

/**
 * torch.linspace(start, end, steps) in float32 (torch's default dtype), as its CPU kernel
 * evaluates it: step = (end-start)/(steps-1); the first half counts up from start, the second
 * half counts down from end. Every intermediate is rounded to float32 with Math.fround.
 */
export function linspaceFloat32(start: number, end: number, steps: number): Float64Array {
  if (!Number.isInteger(steps) || steps < 1) {
    throw new Error(`linspaceFloat32: steps must be an integer >= 1, got ${steps}`);
  }
  const f = Math.fround;
  const a = f(start);
  const b = f(end);
  const y = new Float64Array(steps);
  if (steps === 1) {
    y[0] = a;
    return y;
  }
  const step = f(f(b - a) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) {
    y[i] = i < halfway ? f(a + f(step * i)) : f(b - f(step * (steps - i - 1)));
  }
  return y;
}

/** Round half to even: numpy.round / numpy.ndarray.round and Python 3's round(). */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f; // exact for |x| < 2^52
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}
