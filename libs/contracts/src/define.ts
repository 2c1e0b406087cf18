import type { z } from 'zod';
import type { TAppErrorCode } from './errors';
import type { TStreamName } from './streams';

export interface RequestContract<
  TReq extends z.ZodType = z.ZodType,
  TRep extends z.ZodType = z.ZodType,
> {
  readonly request: TReq;
  readonly reply: TRep;
  /** The error codes a handler of this subject may answer with (besides BAD_REQUEST/INTERNAL, always possible). */
  readonly errors: readonly TAppErrorCode[];
}

export interface EventContract<TPayload extends z.ZodType = z.ZodType> {
  readonly payload: TPayload;
  /** JetStream stream that stores it. */
  readonly stream: TStreamName;
  /**
   * How a publisher's retry is recognised, when it is not the usual (msgID = the payload's eventId, published
   * after the change is committed, a retry re-publishing the same event): its msgID and what consumers dedupe by.
   */
  /** What the event means to a subscriber beyond its schema (what occurredAt is, how to order it): in the AsyncAPI. */
  readonly about?: string;
  readonly delivery?: {
    readonly msgId: string;
    readonly dedupeBy: string;
    readonly published: string;
  };
}

export function defineRequest<TReq extends z.ZodType, TRep extends z.ZodType>(
  c: RequestContract<TReq, TRep>,
): RequestContract<TReq, TRep> {
  return c;
}

export function defineEvent<TPayload extends z.ZodType>(
  c: EventContract<TPayload>,
): EventContract<TPayload> {
  return c;
}
