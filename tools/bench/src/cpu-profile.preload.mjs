// Loaded with NODE_OPTIONS="--import <this file>" (--cpu-prof is not allowed there): profiles the whole process
// and writes a .cpuprofile into BENCH_PROFILE_DIR when it exits.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.BENCH_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  // BENCH_PROFILE_ON_SIGNAL=1: start on SIGUSR2 (the bench sends it after seeding), so start-up is not profiled.
  if (process.env.BENCH_PROFILE_ON_SIGNAL)
    process.once('SIGUSR2', () => session.post('Profiler.start'));
  else session.post('Profiler.start');
  process.on('exit', () => {
    // Same-thread inspector sessions answer synchronously: safe in an exit handler.
    session.post('Profiler.stop', (err, res) => {
      if (!err) {
        const name = `${process.argv[1]?.split('/').slice(-3, -2)[0] ?? 'node'}-${process.pid}.cpuprofile`;
        writeFileSync(join(dir, name), JSON.stringify(res.profile));
      }
    });
  });
}
