// Plots as SVG with real text (any browser or image viewer renders them): the loss curve and
// scatter plots of 2-D samples over the data.

import { writeFileAtomic } from '../fsx.ts';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const num = (v: number) => (Math.round(v * 100) / 100).toString();
const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"';

/** Round tick values over [lo, hi] (about `count` of them). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

const fmtTick = (v: number) => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(1) : String(Number(v.toPrecision(6))));

/** log10 of tick values for a log axis spanning [10^a, 10^b]: 1-2-5 per decade, or plain ticks within one decade. */
function logTicks(a: number, b: number): number[] {
  if (b - a < 1) return niceTicks(10 ** a, 10 ** b, 5).filter((v) => v > 0).map(Math.log10);
  const out: number[] = [];
  for (let d = Math.floor(a); d <= Math.ceil(b); d++) {
    for (const m of b - a > 3 ? [1] : [1, 2, 5]) {
      const v = Math.log10(m) + d;
      if (v >= a - 1e-9 && v <= b + 1e-9) out.push(v);
    }
  }
  return out;
}

export interface LossCurveOptions {
  title?: string;
  width?: number;
  height?: number;
  /** Log-scale y axis (default true when every loss is > 0). */
  logY?: boolean;
}

/** A line plot of loss against step, with axes, ticks and labels as SVG text. */
export function lossCurveSvg(points: readonly { step: number; loss: number }[], opts: LossCurveOptions = {}): string {
  const W = opts.width ?? 640, H = opts.height ?? 400;
  const m = { l: 70, r: 20, t: 40, b: 50 };
  const pts = points.filter((p) => Number.isFinite(p.loss));
  const logY = opts.logY ?? pts.every((p) => p.loss > 0);
  const fy = (v: number) => (logY ? Math.log10(v) : v);
  const xs = pts.map((p) => p.step), ys = pts.map((p) => fy(p.loss));
  const x0 = pts.length ? Math.min(...xs) : 0, x1 = pts.length ? Math.max(...xs) : 1;
  let y0 = pts.length ? Math.min(...ys) : 0, y1 = pts.length ? Math.max(...ys) : 1;
  if (y1 - y0 < 1e-12) { y0 -= 0.5; y1 += 0.5; }
  const sx = (v: number) => m.l + ((v - x0) / Math.max(1e-12, x1 - x0)) * (W - m.l - m.r);
  const sy = (v: number) => H - m.b - ((v - y0) / (y1 - y0)) * (H - m.t - m.b);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="16" ${FONT}>${esc(opts.title ?? 'training loss')}</text>`);
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#444"/>`);
  for (const t of niceTicks(x0, x1, 6)) {
    const x = sx(t);
    parts.push(`<line x1="${num(x)}" y1="${H - m.b}" x2="${num(x)}" y2="${H - m.b + 5}" stroke="#444"/>`);
    parts.push(`<text x="${num(x)}" y="${H - m.b + 20}" text-anchor="middle" font-size="12" ${FONT}>${esc(fmtTick(t))}</text>`);
  }
  const yTicks = logY ? logTicks(y0, y1) : niceTicks(y0, y1, 5);
  for (const t of yTicks) {
    const y = sy(t);
    parts.push(`<line x1="${m.l - 5}" y1="${num(y)}" x2="${W - m.r}" y2="${num(y)}" stroke="#ddd"/>`);
    parts.push(`<text x="${m.l - 8}" y="${num(y + 4)}" text-anchor="end" font-size="12" ${FONT}>${esc(fmtTick(logY ? 10 ** t : t))}</text>`);
  }
  parts.push(`<text x="${W / 2}" y="${H - 12}" text-anchor="middle" font-size="13" ${FONT}>step</text>`);
  parts.push(`<text x="16" y="${H / 2}" text-anchor="middle" font-size="13" transform="rotate(-90 16 ${H / 2})" ${FONT}>loss${logY ? ' (log scale)' : ''}</text>`);
  if (pts.length) {
    const d = pts.map((p, i) => `${i ? 'L' : 'M'}${num(sx(p.step))},${num(sy(fy(p.loss)))}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>`);
  }
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

export interface ScatterPanel {
  title: string;
  /** Flat [n, 2] points to draw. */
  points: ArrayLike<number>;
  /** Optional reference points drawn underneath in grey (e.g. the data). */
  reference?: ArrayLike<number> | null;
  color?: string;
}

/** A grid of square scatter panels over [-lim, lim]^2, each with a title; off-plot points are counted in the title. */
export function scatterSvg(panels: readonly ScatterPanel[], opts: { cols?: number; size?: number; lim?: number; title?: string } = {}): string {
  const size = opts.size ?? 300, lim = opts.lim ?? 2.5;
  const cols = opts.cols ?? Math.min(3, panels.length);
  const rows = Math.ceil(panels.length / cols);
  const head = opts.title ? 30 : 0;
  const W = cols * size, H = head + rows * (size + 40);
  const fs = size < 260 ? 11 : 12;
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`, `<rect width="${W}" height="${H}" fill="white"/>`];
  if (opts.title) parts.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="15" ${FONT}>${esc(opts.title)}</text>`);
  panels.forEach((p, i) => {
    const ox = (i % cols) * size, oy = head + Math.floor(i / cols) * (size + 40);
    const inner = size - 20;
    const s = (v: number) => 10 + ((v + lim) / (2 * lim)) * inner;
    let off = 0;
    const dots = (pts: ArrayLike<number>, fill: string, r: number, opacity: number, count: boolean) => {
      const out: string[] = [];
      for (let k = 0; k + 1 < pts.length; k += 2) {
        const x = pts[k]!, y = pts[k + 1]!;
        if (!(Math.abs(x) <= lim && Math.abs(y) <= lim)) { if (count) off++; continue; }
        out.push(`<circle cx="${num(ox + s(x))}" cy="${num(oy + 40 + s(-y))}" r="${r}"/>`);
      }
      return `<g fill="${fill}" fill-opacity="${opacity}">${out.join('')}</g>`;
    };
    parts.push(`<rect x="${ox + 10}" y="${oy + 50}" width="${inner}" height="${inner}" fill="none" stroke="#bbb"/>`);
    if (p.reference) parts.push(dots(p.reference, '#999999', 1.5, 0.35, false));
    parts.push(dots(p.points, p.color ?? '#1f77b4', 1.8, 0.6, true));
    const n = Math.floor(p.points.length / 2);
    const note = off ? `${off} of ${n} points off the plot` : `${n} points`;
    parts.push(`<text x="${ox + size / 2}" y="${oy + 18}" text-anchor="middle" font-size="${fs}" ${FONT}>${esc(p.title)}</text>`);
    parts.push(`<text x="${ox + size / 2}" y="${oy + 34}" text-anchor="middle" font-size="${fs - 1}" fill="#666" ${FONT}>${esc(note)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

export function writeSvg(path: string, svg: string): void {
  writeFileAtomic(path, svg);
}
