// npm run chaos — disconnects and reconnects through the edge while random services are SIGKILLed and NATS is
// restarted once; then every saga must settle and every invariant hold (tools/chaos/src/chaos-invariants.ts).
// Sized by CHAOS_* (chaos-env.schema.ts). Prints the counts; the last line is the JSON result; exits 1 on any
// violation.
import { parseEnv } from '@otesse/config';
import { formatChaosResult, runChaos } from './chaos-runner';
import { ZChaosEnv } from './chaos-env.schema';

const env = parseEnv('chaos', ZChaosEnv);
const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

try {
  const result = await runChaos({
    operations: env.CHAOS_OPERATIONS,
    clients: env.CHAOS_CLIENTS,
    killEveryMs: env.CHAOS_KILL_EVERY_MS,
    downMs: env.CHAOS_DOWN_MS,
    natsRestartAfterKills: env.CHAOS_NATS_RESTART_AFTER_KILLS,
    databaseCutEvery: env.CHAOS_DATABASE_CUT_EVERY,
    databaseOutageAfterKills: env.CHAOS_DATABASE_OUTAGE_AFTER_KILLS,
    replicas: env.CHAOS_REPLICAS,
    changeUserEvery: env.CHAOS_CHANGE_USER_EVERY,
    settleMs: env.CHAOS_SETTLE_MS,
    maxRunMs: env.CHAOS_MAX_RUN_MS,
    sagaLeaseMs: env.CHAOS_SAGA_LEASE_MS,
    seed: env.CHAOS_SEED,
    verbose: env.CHAOS_VERBOSE === '1',
    log,
  });
  process.stdout.write(`${formatChaosResult(result)}\n`);
  const { disconnects, reconnects } = result.workload;
  const short = disconnects < env.CHAOS_OPERATIONS || reconnects < env.CHAOS_OPERATIONS;
  if (short)
    log(
      `✗ only ${disconnects} disconnects and ${reconnects} reconnects of ${env.CHAOS_OPERATIONS} each completed`,
    );
  process.exit(result.report.totalViolations === 0 && !short ? 0 : 1);
} catch (e) {
  log(`✗ chaos run failed: ${(e as Error).stack ?? String(e)}`);
  process.exit(1);
}
