import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

export const REPO_ROOT = resolve(import.meta.dirname, '../../..');

export interface TChild {
  proc: ChildProcess;
  /** Everything printed so far (stdout and stderr). */
  output(): string;
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<string>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs a TypeScript entry point with tsx as a separate process (for crash and start-up tests). */
export function spawnTs(
  entry: string,
  env: Record<string, string>,
  args: string[] = [],
  onOutput?: (chunk: string) => void,
): TChild {
  const proc = spawn(process.execPath, ['--import', 'tsx', resolve(REPO_ROOT, entry), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const take = (d: Buffer): void => {
    const s = d.toString();
    // Keep the last 2 MB: long-running dev stacks must not grow without bound.
    out = (out + s).slice(-2_000_000);
    onOutput?.(s);
  };
  proc.stdout?.on('data', take);
  proc.stderr?.on('data', take);
  return {
    proc,
    output: () => out,
    waitForOutput: (pattern, timeoutMs = 30_000) =>
      new Promise((res, rej) => {
        const started = Date.now();
        const tick = (): void => {
          const m = out.match(pattern);
          if (m) return res(m[0]);
          if (proc.exitCode !== null)
            return rej(new Error(`process exited (${proc.exitCode}) before ${pattern}:\n${out}`));
          if (Date.now() - started > timeoutMs)
            return rej(new Error(`timed out waiting for ${pattern}:\n${out}`));
          setTimeout(tick, 50);
        };
        tick();
      }),
    kill: (signal = 'SIGTERM') =>
      new Promise((res) => {
        if (proc.exitCode !== null) return res(proc.exitCode);
        proc.once('exit', (code) => res(code));
        proc.kill(signal);
      }),
  };
}
