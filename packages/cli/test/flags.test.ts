// The command line: --help everywhere, usage errors (exit 2) for unknown or invalid flags, and
// output-folder / environment checks that happen before any work (issue 8 §7).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, tmp } from './helpers.ts';

const COMMANDS = ['train', 'sample', 'eval', 'train-classifier', 'export'];

describe('tapegrad --help', () => {
  it('the program lists every command', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Usage: tapegrad/);
    for (const c of COMMANDS) expect(r.out).toContain(c);
  });
  it.each(COMMANDS)('%s --help prints its usage and exits 0', async (c) => {
    const r = await cli([c, '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`Usage: tapegrad ${c}`);
    expect(r.err).toBe('');
  });
});

describe('usage errors exit 2 with a message naming the flag', () => {
  const cases: [string[], RegExp][] = [
    [['train', '--bogus'], /unknown option '--bogus'/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['train', '--steps', 'abc'], /--steps <n>.*'abc'.*expected an integer/],
    [['train', '--steps', '0'], /--steps <n>.*'0'/],
    [['train', '--steps', '2.5'], /--steps <n>.*'2.5'/],
    [['train', '--lr', '-1'], /--lr <x>.*'-1'.*expected a number > 0/],
    [['train', '--lr', 'NaN'], /--lr <x>.*'NaN'/],
    [['train', '--batch-size', ''], /--batch-size <n>/],
    [['train', '--backend', 'cuda'], /--backend <name>.*'cuda'.*webasm, cpu, webgpu, reference/],
    [['train', '--preset', 'huge'], /--preset <name>.*'huge'.*quick/],
    [['train', '--data', 'moons', '--conditional', '--out', '/tmp/never'], /--conditional needs a labelled image set/],
    [['train', '--data', 'moons', '--image-size', '14', '--out', '/tmp/never'], /--image-size applies to image data/],
    [['train', '--data', 'mnist', '--image-size', '7'], /--image-size must be 28 or 14/],
    [['train', '--data', '/nonexistent/folder'], /neither a data set .* nor an existing folder/],
    [['train'], /--data is required/],
    [['sample'], /required option '--checkpoint <run>'/],
    [['sample', '--checkpoint', 'x', '--sampler', 'heun'], /--sampler <name>.*'heun'.*ddpm, ddim, dpmsolver\+\+, euler/],
    [['sample', '--checkpoint', 'x', '--steps', '-3'], /--steps <n>.*'-3'/],
    [['eval', '--checkpoint', 'x', '--bandwidth', '0.5,zero'], /--bandwidth <list>.*'zero'/],
    [['export', '--checkpoint', 'x', '--format', 'onnx', '--out', 'y'], /--format <name>.*'onnx'.*diffusers/],
  ];
  it.each(cases)('%j', async (argv, msg) => {
    const r = await cli(argv);
    expect(r.code, r.err).toBe(2);
    expect(r.err).toMatch(msg);
    expect(r.err).toMatch(/--help/);
  });
});

describe('output folder and environment are checked before training', () => {
  it('--out under /dev/null fails at once, naming the component', async () => {
    const r = await cli(['train', '--data', 'moons', '--out', '/dev/null/x']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--out folder '\/dev\/null\/x': '\/dev\/null' exists and is not a folder/);
  });
  it('--out under /proc fails at once instead of looping in mkdir', async () => {
    const t0 = performance.now();
    const r = await cli(['train', '--data', 'moons', '--out', '/proc/x/y']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--out folder '\/proc\/x\/y': cannot create '\/proc\/x'/);
    expect(performance.now() - t0).toBeLessThan(5000);
  });
  it('a file in the way of --out is reported', async () => {
    const d = tmp('flags');
    writeFileSync(join(d, 'file'), 'x');
    const r = await cli(['train', '--data', 'moons', '--out', join(d, 'file', 'run')]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`'${join(d, 'file')}' exists and is not a folder`);
  });
  it('a bad TAPEGRAD_BACKEND is reported as the variable, not as a flag', async () => {
    const d = tmp('flags');
    const r = await cli(['train', '--data', 'moons', '--out', join(d, 'run')], { TAPEGRAD_BACKEND: 'gpu' });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/environment variable TAPEGRAD_BACKEND is 'gpu'/);
    expect(r.err).not.toMatch(/--backend <name>/);
    expect(existsSync(join(d, 'run'))).toBe(false);
  });
  it('--backend wins over TAPEGRAD_BACKEND, so a bad variable does not matter then', async () => {
    const d = tmp('flags');
    const r = await cli(['train', '--data', 'moons', '--out', join(d, 'run'), '--backend', 'reference', '--steps', '3', '--batch-size', '8', '--sample-every', '0'], { TAPEGRAD_BACKEND: 'gpu' });
    expect(r.code, r.err).toBe(0);
  });
  it('an --out that already holds a run is refused unless --overwrite', async () => {
    const d = tmp('flags');
    mkdirSync(join(d, 'run'));
    writeFileSync(join(d, 'run', 'config.json'), '{}');
    const r = await cli(['train', '--data', 'moons', '--out', join(d, 'run')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/already holds a run; continue it with --resume/);
  });
  it('--resume refuses training flags and a folder that is not a run', async () => {
    const d = tmp('flags');
    let r = await cli(['train', '--resume', d, '--lr', '0.1', '--steps', '4']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/drop --steps, --lr/);
    r = await cli(['train', '--resume', d]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--resume: '.*' is not a run folder/);
  });
  it('a PNG folder with a bad file is reported before training, naming the file', async () => {
    const d = tmp('flags');
    writeFileSync(join(d, 'notes.txt'), 'hello');
    const r = await cli(['train', '--data', d]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`'${join(d, 'notes.txt')}' is not a PNG file`);
  });
});
