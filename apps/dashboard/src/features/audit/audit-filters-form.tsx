import { useId, useState, type FormEvent } from 'react';
import type { TAuditAction, TAuditFilters, TProvider } from '../../trpc/router-types';
import { AUDIT_ACTION_LABELS, AUDIT_ACTIONS } from './audit-action-labels';
import { AuditActorField } from './audit-actor-field';

interface TDraft {
  action: TAuditAction | '';
  provider: string;
  /** What the actor search field holds (only narrows the choices; the filter is `actor`). */
  actorSearch: string;
  actor: string;
  from: string;
  to: string;
}

const EMPTY: TDraft = { action: '', provider: '', actorSearch: '', actor: '', from: '', to: '' };

/** `datetime-local` values are local wall-clock times; the API wants ISO instants. */
function toIso(local: string): string | undefined {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/**
 * The log's filters. The actor is searched for among the org's users by name or email and picked by name (the API
 * still filters by their id), the signed-in user first.
 */
export function AuditFiltersForm({
  providers,
  onApply,
}: {
  providers: TProvider[];
  onApply(filters: TAuditFilters): void;
}) {
  const [draft, setDraft] = useState<TDraft>(EMPTY);
  const [problem, setProblem] = useState<string | null>(null);
  const ids = {
    action: useId(),
    provider: useId(),
    from: useId(),
    to: useId(),
    problem: useId(),
  };
  const set = (patch: Partial<TDraft>): void => setDraft((d) => ({ ...d, ...patch }));

  const onSubmit = (e: FormEvent<HTMLFormElement>): void => {
    e.preventDefault();
    const actor = draft.actor;
    const from = toIso(draft.from);
    const to = toIso(draft.to);
    if (from && to && from > to) {
      setProblem('“From” must be before “To”.');
      return;
    }
    setProblem(null);
    onApply({
      ...(draft.action ? { action: draft.action } : {}),
      ...(draft.provider ? { provider: draft.provider } : {}),
      ...(actor ? { actorUserId: actor } : {}),
      ...(from ? { from } : {}),
      ...(to ? { to } : {}),
    });
  };

  return (
    <form className="card filters" onSubmit={onSubmit} aria-label="Audit log filters" noValidate>
      <div className="filters-grid">
        <div className="field">
          <label htmlFor={ids.action}>Action</label>
          <select
            id={ids.action}
            value={draft.action}
            onChange={(e) => set({ action: e.target.value as TAuditAction | '' })}
          >
            <option value="">Any action</option>
            {AUDIT_ACTIONS.map((a) => (
              <option key={a} value={a}>
                {AUDIT_ACTION_LABELS[a]}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={ids.provider}>Provider</label>
          <select
            id={ids.provider}
            value={draft.provider}
            onChange={(e) => set({ provider: e.target.value })}
          >
            <option value="">Any provider</option>
            {providers.map((p) => (
              <option key={p.key} value={p.key}>
                {p.displayName}
              </option>
            ))}
          </select>
        </div>
        <AuditActorField
          search={draft.actorSearch}
          actorId={draft.actor}
          onSearchChange={(actorSearch) => set({ actorSearch })}
          onActorChange={(actor) => set({ actor })}
        />
        <div className="field">
          <label htmlFor={ids.from}>From</label>
          <input
            id={ids.from}
            type="datetime-local"
            value={draft.from}
            onChange={(e) => set({ from: e.target.value })}
          />
        </div>
        <div className="field">
          <label htmlFor={ids.to}>To</label>
          <input
            id={ids.to}
            type="datetime-local"
            value={draft.to}
            onChange={(e) => set({ to: e.target.value })}
          />
        </div>
      </div>
      {problem && (
        <p id={ids.problem} className="field-error" role="alert">
          {problem}
        </p>
      )}
      <div className="button-row">
        <button type="submit" className="button button-primary">
          Apply filters
        </button>
        <button
          type="button"
          className="button"
          onClick={() => {
            setDraft(EMPTY);
            setProblem(null);
            onApply({});
          }}
        >
          Reset
        </button>
      </div>
    </form>
  );
}
