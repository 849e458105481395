// The OpenAPI 3.1 document of the HTTP door (GET /openapi.json), built from the
// same schemas ajv validates with, so the document cannot drift from the code.
import { messageStatusSchema, queuedMessageResponseSchema } from './queue-schema.ts';
import { errorResponseSchema, sendMessageRequestSchema, sendMessageResponseSchema } from './schema.ts';

/** JSON Schema as it sits inside components.schemas (no $id: the component name is the id). */
function component(schema: { $id: string }): Record<string, unknown> {
  const { $id: _id, ...rest } = schema;
  return rest;
}

const errorRef = { $ref: '#/components/schemas/Error' };
const retryAfter = {
  'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer', minimum: 1 } },
};
const error = (description: string, withRetryAfter = false) => ({
  description,
  ...(withRetryAfter ? { headers: retryAfter } : {}),
  content: { 'application/json': { schema: errorRef } },
});

export function openApiDocument(version = '0.1.0'): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'postmaster send endpoint',
      version,
      description:
        'Send mail as a SenderIdentity from inside the cluster. A 200 means the upstream (SMTP server or provider API) ' +
        "accepted the message; a 202 (the identity's EmailServer delivers Queued) means the message is stored in the shared " +
        'store and the queue delivers it; anything else means it was not taken and the caller still holds it.',
    },
    components: {
      securitySchemes: {
        serviceAccountToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            'A ServiceAccount token for the audience "postmaster" (a projected token, or `kubectl create token SA --audience postmaster`). ' +
            'The ServiceAccount needs the verb "send" on senderidentities (group email.postmaster.dev) in its namespace.',
        },
      },
      schemas: {
        SendMessageRequest: component(sendMessageRequestSchema),
        SendMessageResponse: component(sendMessageResponseSchema),
        QueuedMessageResponse: component(queuedMessageResponseSchema),
        MessageStatus: component(messageStatusSchema),
        Error: component(errorResponseSchema),
      },
    },
    security: [{ serviceAccountToken: [] }],
    paths: {
      '/v1/messages': {
        post: {
          operationId: 'sendMessage',
          summary: 'Send a message; answers once the upstream accepted it (Direct) or the shared store holds it (Queued).',
          parameters: [
            {
              name: 'Idempotency-Key',
              in: 'header',
              required: false,
              description:
                'Makes a retry safe for 24 h: the same key with the same body returns the first result and sends nothing again; ' +
                'with another body it is refused (422); while the first is still being sent, 409. A failed attempt frees the key. ' +
                'Keys are shared by every replica when the operator runs with a Redis/Valkey store, else remembered per replica.',
              schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7E]+$' },
            },
          ],
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: { $ref: '#/components/schemas/SendMessageRequest' },
                examples: {
                  alert: {
                    summary: 'A plain-text alert (the README example)',
                    value: { sender: 'alerts', to: ['Ops <ops@example.com>'], subject: 'Disk full', text: 'The disk of node-1 is 97% full.' },
                  },
                  receipt: {
                    summary: 'HTML with an inline logo, a PDF and threading headers',
                    value: {
                      sender: 'shop',
                      to: ['"Doe, Jane" <jane@example.org>'],
                      bcc: ['archive@example.com'],
                      replyTo: 'support@example.com',
                      subject: 'Your receipt for order 1234',
                      text: 'Thank you for your order.',
                      html: '<p><img src="cid:logo@example.com"> Thank you for your order.</p>',
                      headers: { 'Message-ID': '<order-1234-receipt@example.com>', 'X-Order': '1234' },
                      attachments: [
                        { filename: 'logo.png', contentType: 'image/png', content: 'iVBORw0KGgo=', contentId: 'logo@example.com', disposition: 'inline' },
                        { filename: 'receipt.pdf', contentType: 'application/pdf', content: 'JVBERi0xLjQK' },
                      ],
                    },
                  },
                },
              },
            },
          },
          responses: {
            '200': {
              description: 'The upstream accepted the message.',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/SendMessageResponse' } } },
            },
            '202': {
              description: "Queued: the message is stored in the shared store and the queue delivers it (the identity's EmailServer delivers Queued).",
              headers: { Location: { description: 'Where its state can be read: /v1/messages/{id}.', schema: { type: 'string' } } },
              content: { 'application/json': { schema: { $ref: '#/components/schemas/QueuedMessageResponse' } } },
              // Only a queued message has a state to read; a 200 (Direct) has none.
              links: { getMessage: { operationId: 'getMessage', parameters: { id: '$response.body#/id' } } },
            },
            '400': error('The request is malformed; error.field names the field (header injection is refused here).'),
            '401': error('No token, or one the API server does not accept for the audience "postmaster".'),
            '403': error('The ServiceAccount may not send as this identity (RBAC verb "send").'),
            '404': error("No such SenderIdentity in the caller's namespace."),
            '409': error('The identity is not Ready (error.reason is its Ready reason), or a request with this Idempotency-Key is still being sent.', true),
            '413': error('The request or its attachments are too large.'),
            '415': error('The body is not application/json.'),
            '422': error('The upstream refused this message for good (its words are in the message), or the Idempotency-Key was used for another request.'),
            '429': error("The identity's or the server's rate limit is reached.", true),
            '500': error('A bug in postmaster; the message was not sent.', true),
            '502': error(
              "The provider API refused the EmailServer's key or sender (its 401/403; nothing was sent), or the upstream went silent after " +
                'taking the message (POSTMASTER_UPSTREAM_OUTCOME_UNKNOWN: it may have been delivered).',
              true,
            ),
            '503': error(
              'The upstream (or the API server) cannot take the message now, the shared store cannot hold it (Queued), or this replica is ' +
                'shutting down; nothing was sent.',
              true,
            ),
          },
        },
      },
      '/v1/messages/{id}': {
        get: {
          operationId: 'getMessage',
          summary: 'The state of a queued message, for a caller allowed to send as its identity.',
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._-]+$' } }],
          responses: {
            '200': { description: 'Its state.', content: { 'application/json': { schema: { $ref: '#/components/schemas/MessageStatus' } } } },
            '400': error('The id is not one postmaster gives (1 to 128 letters, digits, ".", "_" or "-"); error.field is "id".'),
            '401': error('No token, or one the API server does not accept for the audience "postmaster".'),
            '404': error("No queued message by that id in the caller's namespace that the caller may send as (or it is older than 24 h)."),
            '503': error('The shared store or the API server cannot answer now.', true),
          },
        },
      },
      '/openapi.json': {
        get: {
          operationId: 'openApiDocument',
          summary: 'This document.',
          security: [],
          responses: { '200': { description: 'The OpenAPI document.', content: { 'application/json': {} } } },
        },
      },
    },
  };
}
