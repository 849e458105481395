// JSON Schemas of the Queued answers: the 202 of POST /v1/messages and the body
// of GET /v1/messages/{id}, published in /openapi.json and checked in tests.
import type { MessageStatus } from './types.ts';

const serverRef = {
  type: 'object',
  additionalProperties: false,
  required: ['namespace', 'name'],
  properties: { namespace: { type: 'string' }, name: { type: 'string' } },
} as const;
const time = (description: string) => ({ type: 'string', format: 'date-time', description }) as const;

export interface QueuedMessageResponse {
  id: string;
  state: 'queued';
  messageIdHeader: string;
  server: { namespace: string; name: string };
  expiresAt: string;
  statusUrl: string;
}

export const queuedMessageResponseSchema = {
  $id: 'QueuedMessageResponse',
  title: 'QueuedMessageResponse',
  type: 'object',
  additionalProperties: false,
  required: ['id', 'state', 'messageIdHeader', 'server', 'expiresAt', 'statusUrl'],
  description: "The message is stored in the shared store; the queue delivers it (its EmailServer's spec.delivery.mode is Queued).",
  properties: {
    id: { type: 'string', description: 'The queued message: GET /v1/messages/{id}.' },
    state: { const: 'queued' },
    messageIdHeader: { type: 'string', description: 'The Message-ID header it goes out with (SparkPost routes set their own).' },
    server: { ...serverRef, description: 'The EmailServer that will deliver it.' },
    expiresAt: time('When retries stop and the message expires.'),
    statusUrl: { type: 'string', description: 'Where its state can be read (same authentication).' },
  },
} as const;

export const messageStatusSchema = {
  $id: 'MessageStatus',
  title: 'MessageStatus',
  type: 'object',
  additionalProperties: false,
  required: ['id', 'state', 'identity', 'messageIdHeader', 'attempts', 'acceptedAt', 'expiresAt'],
  description: 'What became of a queued message. Records are kept for 24 hours; bodies are deleted once sent, bounced or expired.',
  properties: {
    id: { type: 'string' },
    state: {
      enum: ['queued', 'sending', 'deferred', 'sent', 'bounced', 'expired'] satisfies MessageStatus['state'][],
      description:
        'queued: waiting for a worker; sending: a worker has it; deferred: an attempt failed for now and it waits for the next; ' +
        'sent: an upstream accepted it; bounced: an upstream refused it for good; expired: not sent before expiresAt.',
    },
    identity: { ...serverRef, description: 'The SenderIdentity it is sent as.' },
    messageIdHeader: { type: 'string' },
    attempts: { type: 'integer', minimum: 0, description: 'Delivery attempts made (rate-limit waits are not attempts).' },
    lastResponse: { type: 'string', description: 'The last upstream reply, or why the last attempt could not be made.' },
    acceptedAt: time('When it was stored.'),
    lastAttemptAt: time('The last attempt.'),
    finishedAt: time('When it was sent, bounced or expired.'),
    expiresAt: time('When retries stop.'),
    provider: { enum: ['SMTP', 'SendGrid', 'SparkPost', 'MicrosoftGraph'], description: 'Once sent: how it left.' },
    route: { enum: ['primary', 'fallback'] },
    upstreamMessageId: { type: 'string', description: 'Once sent: the id the upstream gave it.' },
  },
} as const;
