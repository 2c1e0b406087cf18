import { auditExportRoute } from './audit-export.route';
import type { THttpRoute } from './http-route';
import { receiveWebhookRoute } from '../webhooks/receive-webhook.route';

/** Plain HTTP routes served besides tRPC and OAuth, tried in order. */
export const restRoutes: THttpRoute[] = [auditExportRoute, receiveWebhookRoute];
