/** The edge's public, type-only API: what the dashboard and other typed clients import. */
export type { AppRouter } from './routers/app.router';
