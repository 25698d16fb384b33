// Where a command writes and what it reads from its environment (so tests run commands in-process).

export interface Io {
  stdout(s: string): void;
  stderr(s: string): void;
  /** Whether stdout is a terminal (progress bar) or not (one log line per report). */
  isTTY: boolean;
  env: NodeJS.ProcessEnv;
}

export const processIo: Io = {
  stdout: (s) => { process.stdout.write(s); },
  stderr: (s) => { process.stderr.write(s); },
  isTTY: Boolean(process.stdout.isTTY),
  env: process.env,
};
