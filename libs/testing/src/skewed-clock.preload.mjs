// Preloaded into a process under test (`--import`, see skewedClockEnv): its wall clock reads
// OTESSE_TEST_CLOCK_OFFSET_MS off, as a machine whose clock drifted would. Timers and performance.now() are
// untouched: only what the process believes the time of day is moves.
const offset = Number(process.env.OTESSE_TEST_CLOCK_OFFSET_MS ?? '0');
if (Number.isFinite(offset) && offset !== 0) {
  const RealDate = Date;
  class SkewedDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(RealDate.now() + offset);
      else super(...args);
    }
    static now() {
      return RealDate.now() + offset;
    }
  }
  globalThis.Date = SkewedDate;
}
