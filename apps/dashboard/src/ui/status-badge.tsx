export type TTone = 'success' | 'warning' | 'danger' | 'neutral' | 'info';

export function StatusBadge({ tone, children }: { tone: TTone; children: string }) {
  return (
    <span className={`badge badge-${tone}`}>
      <span className="badge-dot" aria-hidden="true" />
      {children}
    </span>
  );
}
