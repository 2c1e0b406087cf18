import { z } from 'zod';

/**
 * The input of a procedure that takes none. Anything sent anyway is BAD_REQUEST with the zod issue, like every other
 * malformed input, instead of being silently ignored.
 */
export const ZNoInput = z.undefined();
