import type { z } from 'zod';

/** Thrown when the environment does not satisfy an app's schema; lists every bad variable. */
export class EnvError extends Error {
  constructor(
    readonly app: string,
    readonly issues: z.core.$ZodIssue[],
  ) {
    super(
      `${app}: invalid environment\n` +
        issues.map((i) => `  - ${i.path.join('.') || '(root)'}: ${i.message}`).join('\n'),
    );
    this.name = 'EnvError';
  }
}

/** Parse `source` (process.env by default) once, at start-up, with the app's zod schema. */
export function parseEnv<TSchema extends z.ZodType>(
  app: string,
  schema: TSchema,
  source: Record<string, string | undefined> = process.env,
): z.infer<TSchema> {
  const result = schema.safeParse(source);
  if (!result.success) throw new EnvError(app, result.error.issues);
  return result.data;
}

/**
 * The entries of `o` that are set: an optional variable left unset stays out of the options built from it, so the
 * library's own default applies (`exactOptionalPropertyTypes` refuses an explicit `undefined` there).
 */
export function definedOnly<T extends Record<string, unknown>>(
  o: T,
): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}
