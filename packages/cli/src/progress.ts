// Training progress: a cli-progress bar (step, smoothed loss, images/s, ETA) on a terminal, one
// log line per report otherwise (CI logs, pipes, files).

import cliProgress from 'cli-progress';

export interface Progress {
  /** Called every step; `loss` is given at the steps where it was read back. */
  update(step: number, info: { loss?: number; imagesPerSecond: number }): void;
  log(line: string): void;
  stop(): void;
}

const fmtEta = (s: number) => (!Number.isFinite(s) ? '?' : s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`);

export function makeProgress(total: number, start: number, opts: { tty: boolean; write: (s: string) => void; quiet?: boolean }): Progress {
  let smoothed: number | undefined;
  const smooth = (l: number) => (smoothed = smoothed === undefined ? l : 0.7 * smoothed + 0.3 * l);
  if (opts.tty && !opts.quiet) {
    const bar = new cliProgress.SingleBar({
      format: 'step {value}/{total} [{bar}] loss {loss} | {ips} img/s | ETA {eta_formatted}',
      hideCursor: true, clearOnComplete: false, etaBuffer: 50,
    }, cliProgress.Presets.shades_classic);
    bar.start(total, start, { loss: '-', ips: '-' });
    return {
      update(step, info) {
        if (info.loss !== undefined) smooth(info.loss);
        bar.update(step, { loss: smoothed === undefined ? '-' : smoothed.toFixed(4), ips: info.imagesPerSecond.toFixed(0) });
      },
      log(line) { opts.write('\n' + line + '\n'); },
      stop() { bar.stop(); },
    };
  }
  const t0 = performance.now();
  return {
    update(step, info) {
      if (info.loss === undefined || opts.quiet) return;
      smooth(info.loss);
      const el = (performance.now() - t0) / 1000;
      const rate = (step - start) / Math.max(1e-9, el);
      opts.write(`step ${String(step).padStart(String(total).length)}/${total}  loss ${info.loss.toFixed(4)} (smoothed ${smoothed!.toFixed(4)})  ${info.imagesPerSecond.toFixed(0)} img/s  ETA ${fmtEta((total - step) / Math.max(1e-9, rate))}\n`);
    },
    log(line) { opts.write(line + '\n'); },
    stop() { /* nothing */ },
  };
}
