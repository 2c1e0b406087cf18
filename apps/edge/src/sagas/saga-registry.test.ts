import { describe, expect, it } from 'vitest';
import type { TEdgeDeps } from '../trpc/context';
import { DISCONNECT_SAGA, DISCONNECT_SAGA_VERSION } from './disconnect.saga';
import { RECONNECT_SAGA, RECONNECT_SAGA_VERSION } from './reconnect.saga';
import { sagaDefinitions } from './saga-registry';
import { UNLINK_TENANT_SAGA, UNLINK_TENANT_SAGA_VERSION } from './unlink-tenant.saga';

describe('sagaDefinitions (what the edge registers)', () => {
  // Building a definition touches none of its deps: the steps use them only when they run.
  const deps = {} as unknown as Pick<TEdgeDeps, 'bus' | 'events' | 'logger' | 'catalogue'>;
  const registered = sagaDefinitions(deps).map((d) => `${d.type}@${d.version}`);

  it('keeps every older version of every saga, so one in flight at an upgrade finishes on its own definition', () => {
    const expected = [
      ...Array.from({ length: DISCONNECT_SAGA_VERSION }, (_, i) => `${DISCONNECT_SAGA}@${i + 1}`),
      ...(['reconnect', 'changeUser'] as const).flatMap((action) =>
        Array.from(
          { length: RECONNECT_SAGA_VERSION[action] },
          (_, i) => `${RECONNECT_SAGA[action]}@${i + 1}`,
        ),
      ),
      ...Array.from(
        { length: UNLINK_TENANT_SAGA_VERSION },
        (_, i) => `${UNLINK_TENANT_SAGA}@${i + 1}`,
      ),
    ];
    expect(registered).toEqual(expected);
    // The versions this code starts new sagas on (change-user 3 since its pause was moved after record-account).
    expect(registered).toEqual(
      expect.arrayContaining(['disconnect@3', 'change-user@1', 'change-user@2', 'change-user@3']),
    );
  });

  it('registers each type and version once', () => {
    expect(new Set(registered).size).toBe(registered.length);
  });
});
