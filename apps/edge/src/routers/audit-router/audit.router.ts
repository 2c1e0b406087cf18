import { router } from '../../trpc/trpc';
import { listAuditActors } from './list-audit-actors';
import { listAuditEntries } from './list-audit-entries';
import { verifyAuditChain } from './verify-audit-chain';

export const auditRouter = router({
  list: listAuditEntries,
  actors: listAuditActors,
  verify: verifyAuditChain,
});
