import { errorMessage } from '../trpc/query-client';

export function ErrorAlert({ error, title }: { error: unknown; title?: string }) {
  return (
    <div className="alert alert-error" role="alert">
      {title && <strong className="alert-title">{title}</strong>}
      <span>{errorMessage(error)}</span>
    </div>
  );
}
