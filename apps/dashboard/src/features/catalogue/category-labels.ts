import type { TProviderCategory } from '../../trpc/router-types';

/** Typed by the router's category enum: a category added on the backend fails the type-check until named here. */
export const CATEGORY_LABELS: Record<TProviderCategory, string> = {
  supportAndTicketing: 'Support & ticketing',
  knowledgeBase: 'Knowledge base',
  email: 'Email',
  accounting: 'Accounting',
  crm: 'CRM',
  productivity: 'Productivity',
  communication: 'Communication',
};

export const CATEGORY_ORDER = Object.keys(CATEGORY_LABELS) as TProviderCategory[];
