import { useId, useMemo, useState, type CSSProperties } from 'react';
import { useQuery } from '@tanstack/react-query';
import type { TProvider, TProviderCategory } from '../../trpc/router-types';
import { useTRPC } from '../../trpc/trpc-context';
import { ErrorAlert } from '../../ui/error-alert';
import { CATEGORY_LABELS, CATEGORY_ORDER } from './category-labels';
import { ProviderCard } from './provider-card';

export function CataloguePage() {
  const trpc = useTRPC();
  const [category, setCategory] = useState<TProviderCategory | ''>('');
  const filterId = useId();
  const catalogue = useQuery(trpc.catalogue.list.queryOptions(category ? { category } : undefined));
  // Refreshed now and then: a refresh token can expire while the page is open (the Reconnect warning).
  const integrations = useQuery(
    trpc.integrations.list.queryOptions(undefined, { refetchInterval: 30_000 }),
  );

  const byVendor = useMemo(
    () => new Map((integrations.data ?? []).map((i) => [i.provider.key, i])),
    [integrations.data],
  );
  const groups = useMemo(() => {
    const m = new Map<TProviderCategory, TProvider[]>();
    for (const p of catalogue.data ?? []) m.set(p.category, [...(m.get(p.category) ?? []), p]);
    return CATEGORY_ORDER.filter((c) => m.has(c)).map((c) => ({
      category: c,
      providers: m.get(c) ?? [],
    }));
  }, [catalogue.data]);
  const connectedCount = (integrations.data ?? []).filter((i) => i.integrated).length;

  return (
    <>
      <div className="toolbar">
        <p className="page-intro">
          Connect the tools your organization uses. Disconnecting keeps synced data and settings for
          a later reconnection.
        </p>
        <div className="field field-inline">
          <label htmlFor={filterId}>Category</label>
          <select
            id={filterId}
            value={category}
            onChange={(e) => setCategory(e.target.value as TProviderCategory | '')}
          >
            <option value="">All categories</option>
            {CATEGORY_ORDER.map((c) => (
              <option key={c} value={c}>
                {CATEGORY_LABELS[c]}
              </option>
            ))}
          </select>
        </div>
      </div>
      {integrations.data && (
        <p className="muted small" role="status">
          {connectedCount} of {integrations.data.length} integrations connected
        </p>
      )}
      {catalogue.isError && (
        <ErrorAlert error={catalogue.error} title="Could not load the catalogue" />
      )}
      {integrations.isError && (
        <ErrorAlert error={integrations.error} title="Could not load the integrations' status" />
      )}
      {catalogue.isPending && (
        <p className="muted" role="status">
          Loading integrations…
        </p>
      )}
      <div className="categories">
        {groups.map((g) => (
          <section
            key={g.category}
            className="category"
            aria-labelledby={`category-${g.category}`}
            // How many cards it holds: its share of a row (styles.css, .category).
            style={{ '--cards': g.providers.length } as CSSProperties}
          >
            <h2 id={`category-${g.category}`}>{CATEGORY_LABELS[g.category]}</h2>
            <ul className="card-grid">
              {g.providers.map((p) => (
                <li key={p.key}>
                  <ProviderCard
                    provider={p}
                    integration={byVendor.get(p.key)}
                    statusUnknown={integrations.isError && !integrations.data}
                  />
                </li>
              ))}
            </ul>
          </section>
        ))}
      </div>
    </>
  );
}
