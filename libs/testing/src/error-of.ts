import { AppError } from '@otesse/contracts';

/** The typed error a request was refused with; a success, or a failure that is not an AppError, fails the test. */
export async function errorOf(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof AppError) return e;
    throw new Error(`expected a typed error reply, got ${String(e)}`, { cause: e });
  }
  throw new Error('expected an error reply');
}
