// Scatter plots of 2-D point clouds: one panel per sampler (samples over the data) and a strip
// of panels showing the reverse process at a few timesteps.

import { Canvas, type RGB } from './png.ts';

export interface PanelOptions {
  /** Side of the square panel in pixels. Default 300. */
  size?: number;
  /** Plotted square [-extent, extent]^2. Default 2.5. */
  extent?: number;
  /** Lines of text at the top of the panel. */
  title?: string[];
  /** Colour of the foreground points. */
  color?: RGB;
}

export const GREY: RGB = [170, 170, 170];
export const BLUE: RGB = [31, 119, 180];
export const ORANGE: RGB = [230, 85, 13];
export const GREEN: RGB = [44, 160, 44];
export const PURPLE: RGB = [148, 103, 189];
export const RED: RGB = [214, 39, 40];

/**
 * One panel: `background` points (e.g. the data) in light grey, then `points` in colour, both flat
 * [n, 2] arrays; axes through the origin; title lines at the top. Points outside the plotted
 * square are clamped to its border (drawn as small crosses) so divergence stays visible.
 */
export function scatterPanel(points: ArrayLike<number>, background: ArrayLike<number> | null, opts: PanelOptions = {}): Canvas {
  const size = opts.size ?? 300;
  const ext = opts.extent ?? 2.5;
  const titleLines = opts.title ?? [];
  const header = titleLines.length ? titleLines.length * 10 + 6 : 0;
  const c = new Canvas(size, size + header);
  titleLines.forEach((line, i) => c.text(4, 4 + i * 10, line, [0, 0, 0]));
  const px = (x: number) => ((x + ext) / (2 * ext)) * (size - 1);
  const py = (y: number) => header + (1 - (y + ext) / (2 * ext)) * (size - 1);
  // axes and frame
  c.fillRect(0, py(0), size, 1, [225, 225, 225]);
  c.fillRect(px(0), header, 1, size, [225, 225, 225]);
  c.strokeRect(0, header, size, size, [120, 120, 120]);
  const plot = (pts: ArrayLike<number>, color: RGB, r: number, alpha: number) => {
    for (let i = 0; i + 1 < pts.length; i += 2) {
      const x = pts[i]!, y = pts[i + 1]!;
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      const out = Math.abs(x) > ext || Math.abs(y) > ext;
      const cx = px(Math.max(-ext, Math.min(ext, x))), cy = py(Math.max(-ext, Math.min(ext, y)));
      if (out) {
        c.fillRect(cx - 2, cy, 5, 1, RED); c.fillRect(cx, cy - 2, 1, 5, RED);
      } else {
        c.dot(cx, cy, r, color, alpha);
      }
    }
  };
  if (background) plot(background, GREY, 1.2, 0.5);
  plot(points, opts.color ?? BLUE, 1.3, 0.8);
  return c;
}

/** Panels side by side (wrapping after `columns`), with a title line above. */
export function grid(panels: Canvas[], columns: number, title?: string, gap = 8): Canvas {
  const w = Math.max(...panels.map((p) => p.width));
  const h = Math.max(...panels.map((p) => p.height));
  const rows = Math.ceil(panels.length / columns);
  const top = title ? 20 : 0;
  const c = new Canvas(columns * w + (columns + 1) * gap, top + rows * h + (rows + 1) * gap);
  if (title) c.text(gap, 8, title, [0, 0, 0]);
  panels.forEach((p, i) => c.draw(p, gap + (i % columns) * (w + gap), top + gap + Math.floor(i / columns) * (h + gap)));
  return c;
}
