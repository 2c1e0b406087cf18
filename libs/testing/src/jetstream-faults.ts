import type { NatsConnection } from 'nats';
import { HEADERS, type TStreamName } from '@otesse/contracts';

/**
 * JetStream refuses every publish on these streams (their subjects are moved away, as if the streams were gone)
 * until the returned function restores them. Needs a connection allowed to update streams (the `probe` user).
 */
export async function refuseStreamPublishes(
  nc: NatsConnection,
  ...streams: TStreamName[]
): Promise<() => Promise<void>> {
  const jsm = await nc.jetstreamManager();
  const restores: (() => Promise<unknown>)[] = [];
  for (const name of streams) {
    const { config } = await jsm.streams.info(name);
    await jsm.streams.update(name, { ...config, subjects: [`refused-${name}.nothing`] });
    restores.push(() => jsm.streams.update(name, config));
  }
  return async () => {
    for (const r of restores) await r();
  };
}

/**
 * A stream's messages of one subject about one connection (the payload's `connectionId`, or an audit entry's
 * `targets.connectionId`), in order: the body, its msgID and its Otesse-Org header.
 */
export async function streamMessagesAbout<T>(
  nc: NatsConnection,
  stream: TStreamName,
  subject: string,
  connectionId: string,
): Promise<{ body: T; msgId: string | undefined; org: string | undefined }[]> {
  const jsm = await nc.jetstreamManager();
  const { state } = await jsm.streams.info(stream);
  const out: { body: T; msgId: string | undefined; org: string | undefined }[] = [];
  for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => undefined);
    if (!m || m.subject !== subject) continue;
    const body = m.json<{ connectionId?: string; targets?: { connectionId?: string } }>();
    if ((body.connectionId ?? body.targets?.connectionId) !== connectionId) continue;
    out.push({
      body: body as T,
      msgId: m.header?.get('Nats-Msg-Id'),
      org: m.header?.get(HEADERS.orgId),
    });
  }
  return out;
}
