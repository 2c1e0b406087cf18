import { describe, expect, it } from 'vitest';
import { EnvError, parseEnv } from '@otesse/config';
import { edgePublicUrlOf, ZEdgeEnv, ZEdgeSagaRetryEnv } from './env.schema';

describe('edge env', () => {
  it('needs EDGE_PUBLIC_URL once it listens beyond loopback, as the images do', () => {
    const env = parseEnv('edge', ZEdgeEnv, { EDGE_HOST: '0.0.0.0' });
    expect(() => edgePublicUrlOf(env)).toThrow(EnvError);
    expect(() => edgePublicUrlOf(env)).toThrow(
      /EDGE_PUBLIC_URL: is required .*EDGE_HOST=0\.0\.0\.0/,
    );
    expect(
      edgePublicUrlOf(
        parseEnv('edge', ZEdgeEnv, {
          EDGE_HOST: '0.0.0.0',
          EDGE_PUBLIC_URL: 'https://integrations.acme.test',
        }),
      ),
    ).toBe('https://integrations.acme.test');
    // On loopback (development) the listening address is the public one.
    expect(edgePublicUrlOf(parseEnv('edge', ZEdgeEnv, {}))).toBeUndefined();
    expect(edgePublicUrlOf(parseEnv('edge', ZEdgeEnv, { EDGE_HOST: 'localhost' }))).toBeUndefined();
  });

  it("takes compose's empty pass-throughs as unset, and refuses a providers file it cannot read", () => {
    const env = parseEnv('edge', ZEdgeEnv, { PROVIDERS_FILE: '', OAUTH_SESSION_SECRET: '' });
    expect(env.PROVIDERS_FILE).toBeUndefined();
    expect(env.OAUTH_SESSION_SECRET).toBeUndefined();
    expect(() => parseEnv('edge', ZEdgeEnv, { OAUTH_SESSION_SECRET: 'short' })).toThrow(
      /OAUTH_SESSION_SECRET/,
    );
    expect(() =>
      parseEnv('edge', ZEdgeEnv, { PROVIDERS_FILE: '/nonexistent/providers.json' }),
    ).toThrow(/PROVIDERS_FILE: cannot be read/);
  });

  it('keeps /metrics off the public port unless told', () => {
    expect(parseEnv('edge', ZEdgeEnv, {}).EDGE_PUBLIC_METRICS).toBe(false);
    expect(parseEnv('edge', ZEdgeEnv, { EDGE_PUBLIC_METRICS: 'true' }).EDGE_PUBLIC_METRICS).toBe(
      true,
    );
    expect(() => parseEnv('edge', ZEdgeEnv, { EDGE_PUBLIC_METRICS: 'yes' })).toThrow(
      /EDGE_PUBLIC_METRICS/,
    );
  });

  it('caps the delay of retries that go on until done at 30 s unless told, within 1 s and 10 min', () => {
    expect(parseEnv('edge', ZEdgeEnv, {}).SAGA_RETRY_MAX_MS).toBe(30_000);
    expect(parseEnv('edge', ZEdgeEnv, { SAGA_RETRY_MAX_MS: '60000' }).SAGA_RETRY_MAX_MS).toBe(
      60_000,
    );
    // The edge reads it alone too (startEdge without a configured value).
    expect(
      parseEnv('edge', ZEdgeSagaRetryEnv, { SAGA_RETRY_MAX_MS: '5000' }).SAGA_RETRY_MAX_MS,
    ).toBe(5_000);
    for (const bad of ['500', '600001', '2.5', 'soon'])
      expect(() => parseEnv('edge', ZEdgeEnv, { SAGA_RETRY_MAX_MS: bad })).toThrow(
        /SAGA_RETRY_MAX_MS/,
      );
  });

  it('retries a step whose service is away 10 s before the pivot unless told; 0 turns it off', () => {
    expect(parseEnv('edge', ZEdgeEnv, {}).SAGA_UNAVAILABLE_RETRY_MS).toBe(10_000);
    expect(
      parseEnv('edge', ZEdgeSagaRetryEnv, { SAGA_UNAVAILABLE_RETRY_MS: '0' })
        .SAGA_UNAVAILABLE_RETRY_MS,
    ).toBe(0);
    for (const bad of ['-1', '120001', '1.5', 'later'])
      expect(() => parseEnv('edge', ZEdgeEnv, { SAGA_UNAVAILABLE_RETRY_MS: bad })).toThrow(
        /SAGA_UNAVAILABLE_RETRY_MS/,
      );
  });

  it('remembers webhook deliveries 7 days unless told, never less than a signed timestamp stays fresh', () => {
    expect(parseEnv('edge', ZEdgeEnv, {}).EDGE_WEBHOOK_DEDUPE_RETENTION_MS).toBe(604_800_000);
    expect(
      parseEnv('edge', ZEdgeEnv, { EDGE_WEBHOOK_DEDUPE_RETENTION_MS: '86400000' })
        .EDGE_WEBHOOK_DEDUPE_RETENTION_MS,
    ).toBe(86_400_000);
    expect(() => parseEnv('edge', ZEdgeEnv, { EDGE_WEBHOOK_DEDUPE_RETENTION_MS: '60000' })).toThrow(
      /EDGE_WEBHOOK_DEDUPE_RETENTION_MS: must be at least 600000/,
    );
  });
});
