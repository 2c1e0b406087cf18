import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from '@otesse/logging';
import type { Bus, EventPublisher } from '@otesse/messaging';
import type { Catalogue } from '@otesse/providers';
import type { MasterKeyRing } from '../crypto/master-keys';

/** What the vault's handlers need. */
export interface TVaultDeps {
  orm: MikroORM;
  keys: MasterKeyRing;
  catalogue: Catalogue;
  logger: Logger;
  bus: Bus;
  events: EventPublisher;
}
