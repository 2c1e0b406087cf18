import { useMutation } from '@tanstack/react-query';
import type { TSagaView } from '../../trpc/router-types';
import { useTRPC } from '../../trpc/trpc-context';
import { useRefreshIntegrationData } from '../../trpc/use-refresh-integration-data';
import { ErrorAlert } from '../../ui/error-alert';

/**
 * Resumes an operation that stopped past its point of no return, from the step that stopped it (the server keeps
 * what was done). For whoever started it and admins; the server says FORBIDDEN to anyone else.
 */
export function ResumeOperationButton({
  sagaId,
  label,
  hiddenLabel,
  onResumed,
}: {
  sagaId: string;
  label: string;
  /** Read by screen readers only, after the label: which provider's operation (several cards have one). */
  hiddenLabel?: string;
  onResumed?(saga: TSagaView): void;
}) {
  const trpc = useTRPC();
  const refresh = useRefreshIntegrationData();
  const resume = useMutation(
    trpc.operations.resume.mutationOptions({
      onSuccess: (r) => {
        onResumed?.(r.saga);
        void refresh();
      },
    }),
  );
  return (
    <>
      <button
        type="button"
        className="button button-primary"
        disabled={resume.isPending}
        onClick={() => resume.mutate({ sagaId, waitMs: 0 })}
      >
        {resume.isPending ? 'Resuming…' : label}
        {hiddenLabel && <span className="visually-hidden">{hiddenLabel}</span>}
      </button>
      {resume.isError && <ErrorAlert error={resume.error} title="Could not resume" />}
    </>
  );
}
