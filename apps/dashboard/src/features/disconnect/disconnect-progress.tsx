import type { TSagaView } from '../../trpc/router-types';
import { stepLabel } from './disconnect-steps';
import { SagaStepTimeline } from './saga-step-timeline';

/** The saga's step timeline, live from the progress subscription. */
export function DisconnectProgress({ saga }: { saga: TSagaView | null }) {
  return (
    <SagaStepTimeline
      saga={saga}
      label="Disconnect steps"
      testId="disconnect-steps"
      stepLabel={stepLabel}
      withNotes
    />
  );
}
