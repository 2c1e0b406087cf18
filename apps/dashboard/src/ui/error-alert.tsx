import { errorMessage } from '../trpc/query-client';

/** A failed call, in words: `message` when the caller knows better than the server's text. */
export function ErrorAlert({
  error,
  title,
  message,
}: {
  error: unknown;
  title?: string;
  message?: string | undefined;
}) {
  return (
    <div className="alert alert-error" role="alert">
      {title && <strong className="alert-title">{title}</strong>}
      <span>{message ?? errorMessage(error)}</span>
    </div>
  );
}
