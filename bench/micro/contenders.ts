// Kernel contenders of one case, for the micro benches that compare kernel variants
// (blocked-vs-classic.ts, conv-tiles.ts): check every contender's result against the first
// one's, then time them interleaved (rep r of every contender before rep r+1 of any) in
// process CPU milliseconds.

/**
 * Runs each contender once and throws, naming the case and the pair, unless its result has
 * the first contender's length and lies within 1e-3 * max(1, max |first|) of it. Then `reps`
 * interleaved timed runs. Returns the CPU ms of every rep per contender and the largest
 * absolute difference seen.
 */
export function agreeThenTime<B>(
  name: string, contenders: readonly (readonly [string, B])[], run: (b: B) => ArrayLike<number>, reps: number,
): { times: Record<string, number[]>; maxAbsDiff: number } {
  const [base, first] = contenders[0];
  const r0 = run(first);
  let maxAbsDiff = 0;
  for (const [k, be] of contenders.slice(1)) {
    const r1 = run(be);
    let e = 0;
    let mx = 0;
    for (let i = 0; i < r0.length; i++) { e = Math.max(e, Math.abs(r0[i] - r1[i])); mx = Math.max(mx, Math.abs(r0[i])); }
    if (r0.length !== r1.length || !(e <= 1e-3 * Math.max(1, mx))) throw new Error(`${name}: ${base} and ${k} differ (max abs ${e}, lengths ${r0.length} vs ${r1.length})`);
    maxAbsDiff = Math.max(maxAbsDiff, e);
  }
  const times: Record<string, number[]> = Object.fromEntries(contenders.map(([k]) => [k, []]));
  for (let r = 0; r < reps; r++) {
    for (const [k, be] of contenders) {
      const t0 = process.cpuUsage();
      run(be);
      const d = process.cpuUsage(t0);
      times[k].push((d.user + d.system) / 1000);
    }
  }
  return { times, maxAbsDiff };
}
