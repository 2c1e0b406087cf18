import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import type { AppRouter } from '@otesse/edge-api';

/** Shapes derived from the edge's router: never written by hand, so they cannot drift. */
export type TRouterOutputs = inferRouterOutputs<AppRouter>;
export type TRouterInputs = inferRouterInputs<AppRouter>;

export type TMe = TRouterOutputs['me']['get'];
export type TIntegration = TRouterOutputs['integrations']['list'][number];
export type TProvider = TRouterOutputs['catalogue']['list'][number];
export type TProviderCategory = TProvider['category'];
export type TConnectionView = NonNullable<TIntegration['appConnection']>;
/** Another member's personal connection (listed for settings.edit only), with its owner. */
export type TOtherConnection = TIntegration['otherConnections'][number];
export type TAuditFilters = NonNullable<TRouterInputs['audit']['list']['filters']>;
export type TAuditAction = NonNullable<TAuditFilters['action']>;
export type TAuditEntry = TRouterOutputs['audit']['list']['entries'][number];
export type TSyncJobOverview = TRouterOutputs['sync']['listJobs']['jobs'][number];
/** The connection a sync job syncs for, as the job list names it (null: it no longer exists). */
export type TSyncJobConnection = TSyncJobOverview['connection'];
export type TAuditActor = TRouterOutputs['audit']['actors']['users'][number];
export type TDisconnectPreview = TRouterOutputs['disconnect']['preview'];
/** What unlinking the org's instance of a vendor from its tenant would erase and keep, and what stops it now. */
export type TUnlinkPreview = TRouterOutputs['integrations']['unlinkTenantPreview'];
export type TSagaView = TRouterOutputs['disconnect']['status'];
export type TSagaStep = TSagaView['steps'][number];
export type TOperation = TRouterOutputs['operations']['list']['items'][number];
export type TOperationsInput = Exclude<TRouterInputs['operations']['list'], void | undefined>;
