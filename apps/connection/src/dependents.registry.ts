import type { TDependent } from '@otesse/contracts';

/**
 * Product features that depend on a vendor: shown before a disconnect ("Disconnecting may affect [dependent].").
 * Code, not data: a feature's dependency ships with the feature.
 */
export const DEPENDENTS: Readonly<Record<string, readonly TDependent[]>> = {
  postmark: [
    {
      feature: 'email-builder',
      label: 'Email Builder',
      effect:
        'Email Builder uses Postmark sender emails; disconnecting removes them from the "From" dropdown.',
    },
  ],
  confluence: [
    {
      feature: 'knowledge-base-search',
      label: 'Knowledge Base search',
      effect:
        'Knowledge Base search uses Confluence pages; disconnecting stops new and changed pages from reaching it (pages already synced are kept).',
    },
  ],
  servicenow: [
    {
      feature: 'support-ticket-sync',
      label: 'Ticket sync in the Support inbox',
      effect:
        'The Support inbox syncs tickets from ServiceNow; disconnecting stops the ticket sync (synced tickets are kept).',
    },
  ],
};

export function dependentsOf(vendor: string): TDependent[] {
  return [...(DEPENDENTS[vendor] ?? [])];
}
