import { readFileSync, readdirSync } from 'node:fs';

/** CPU time (user + system, ms) and memory (current and peak RSS, MB) of one process, from /proc. */
export interface TProcessUsage {
  cpuMs: number;
  rssMb: number;
  peakRssMb: number;
}

const TICK_MS = 10; // USER_HZ is 100 on Linux

export function processUsage(pid: number): TProcessUsage | undefined {
  try {
    // Fields after the command name (which may contain spaces) start at ") ".
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuMs = (Number(fields[11]) + Number(fields[12])) * TICK_MS;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string): number =>
      Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    return { cpuMs, rssMb: kb('VmRSS') / 1024, peakRssMb: kb('VmHWM') / 1024 };
  } catch {
    return undefined; // exited
  }
}

/** CPU time (ms) of every process whose command line matches, by pid (e.g. all Postgres backends). */
export function cpuByPid(pattern: RegExp): Map<number, number> {
  const byPid = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const cpu = pattern.test(cmd) ? processUsage(Number(entry))?.cpuMs : undefined;
      if (cpu !== undefined) byPid.set(Number(entry), cpu);
    } catch {
      // gone meanwhile
    }
  }
  return byPid;
}

/** The Postgres role of each backend (its command line reads "postgres: [<cluster>: ]<role> <database> …"). */
export function postgresRoleByPid(pids: Iterable<number>): Map<number, string> {
  const roles = new Map<number, string>();
  for (const pid of pids) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const role = /^postgres: (?:\S+: )?(\S+) /.exec(cmd)?.[1];
      if (role) roles.set(pid, role);
    } catch {
      // gone meanwhile
    }
  }
  return roles;
}
