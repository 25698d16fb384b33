// In-process runs of the CLI with captured output.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type Io } from '../src/index.ts';

export interface Ran { code: number; out: string; err: string }

export async function cli(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  let out = '', err = '';
  const io: Io = { stdout: (s) => { out += s; }, stderr: (s) => { err += s; }, isTTY: false, env };
  const code = await runCli(argv, io);
  return { code, out, err };
}

export const tmp = (prefix: string) => mkdtempSync(join(tmpdir(), `tapegrad-cli-${prefix}-`));
