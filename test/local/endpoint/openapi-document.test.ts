// The OpenAPI document as client generators and readers use it: every
// operation, parameter and response documented, errors in the one shape with
// Retry-After where the door sends it, and parameters that agree with what
// the door accepts.
import { Ajv2020 } from 'ajv/dist/2020.js';
import { beforeEach, describe, expect, it } from 'vitest';
import { openApiDocument } from '../../../src/endpoint/openapi.ts';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
// Built in each test (beforeEach), so mutation testing counts the document as covered by them.
let doc: Obj;
let post: Obj;
let get: Obj;
let self: Obj;
beforeEach(() => {
  doc = openApiDocument() as Obj;
  post = doc.paths['/v1/messages'].post as Obj;
  get = doc.paths['/v1/messages/{id}'].get as Obj;
  self = doc.paths['/openapi.json'].get as Obj;
});
const nonEmpty = (s: unknown) => typeof s === 'string' && s.trim().length >= 5;

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1 with a title, a version and a description', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.title).toBe('postmaster send endpoint');
    expect(doc.info.version).toBe('0.1.0');
    expect((openApiDocument('1.2.3') as Obj).info.version).toBe('1.2.3');
    expect(nonEmpty(doc.info.description)).toBe(true);
  });

  it('asks for a ServiceAccount bearer token everywhere but on itself', () => {
    const scheme = doc.components.securitySchemes.serviceAccountToken;
    expect(scheme).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    expect(scheme.description).toContain('--audience postmaster');
    expect(doc.security).toEqual([{ serviceAccountToken: [] }]);
    expect(self.security).toEqual([]);
    expect(post.security).toBeUndefined();
  });

  it('documents every operation and every response', () => {
    const ops = [post, get, self];
    expect(ops.map((o) => o.operationId)).toEqual(['sendMessage', 'getMessage', 'openApiDocument']);
    for (const op of ops) {
      expect(nonEmpty(op.summary), op.operationId).toBe(true);
      for (const [status, res] of Object.entries(op.responses as Obj)) {
        expect(nonEmpty(res.description), `${op.operationId} ${status}`).toBe(true);
        expect(res.content, `${op.operationId} ${status}`).toHaveProperty(['application/json']);
      }
    }
    expect(Object.keys(post.responses)).toEqual(['200', '202', '400', '401', '403', '404', '409', '413', '415', '422', '429', '500', '502', '503']);
    expect(Object.keys(get.responses)).toEqual(['200', '400', '401', '404', '503']);
  });

  it('every error is the Error schema, with Retry-After exactly where the door sends one', () => {
    const retried = (op: Obj) =>
      Object.entries(op.responses as Obj)
        .filter(([, r]) => r.headers?.['Retry-After'])
        .map(([s]) => s);
    for (const op of [post, get]) {
      for (const [status, res] of Object.entries(op.responses as Obj)) {
        if (Number(status) < 300) continue;
        expect(res.content['application/json'].schema, status).toEqual({ $ref: '#/components/schemas/Error' });
      }
    }
    expect(retried(post)).toEqual(['409', '429', '500', '502', '503']);
    expect(retried(get)).toEqual(['503']);
    expect(post.responses['429'].headers['Retry-After']).toEqual({ description: 'Seconds to wait before retrying.', schema: { type: 'integer', minimum: 1 } });
  });

  it('points 200, 202 and the status read at their schemas, and 202 at the status read', () => {
    expect(post.responses['200'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/SendMessageResponse' });
    expect(post.responses['202'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/QueuedMessageResponse' });
    expect(get.responses['200'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/MessageStatus' });
    expect(post.requestBody).toMatchObject({ required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/SendMessageRequest' } } } });
    expect(nonEmpty(post.responses['202'].headers.Location.description)).toBe(true);
    expect(post.responses['202'].headers.Location.schema).toEqual({ type: 'string' });
    expect(post.responses['202'].links).toEqual({ getMessage: { operationId: 'getMessage', parameters: { id: '$response.body#/id' } } });
    expect(Object.keys(doc.components.schemas)).toEqual(['SendMessageRequest', 'SendMessageResponse', 'QueuedMessageResponse', 'MessageStatus', 'Error']);
    for (const [name, schema] of Object.entries(doc.components.schemas as Obj)) {
      expect(schema, name).not.toHaveProperty('$id');
      expect(schema.title, name).toBe(name);
    }
  });

  it('its parameters take what the door takes', () => {
    const ajv = new Ajv2020({ strict: false });
    const [key] = post.parameters as Obj[];
    expect(key).toMatchObject({ name: 'Idempotency-Key', in: 'header', required: false });
    expect(nonEmpty(key!.description)).toBe(true);
    const keyOk = ajv.compile(key!.schema);
    expect(['k'.repeat(255), '!~', 'a'].map((k) => keyOk(k))).toEqual([true, true, true]);
    expect(['k'.repeat(256), '', 'a b', 'ä'].map((k) => keyOk(k))).toEqual([false, false, false, false]);
    const [id] = get.parameters as Obj[];
    expect(id).toMatchObject({ name: 'id', in: 'path', required: true });
    const idOk = ajv.compile(id!.schema);
    expect(['a', 'A.b_c-9', 'i'.repeat(128)].map((v) => idOk(v))).toEqual([true, true, true]);
    expect(['', 'i'.repeat(129), 'a/b', 'a b'].map((v) => idOk(v))).toEqual([false, false, false, false]);
  });

  it('has two request examples, each with a summary', () => {
    const examples = post.requestBody.content['application/json'].examples as Obj;
    expect(Object.keys(examples)).toEqual(['alert', 'receipt']);
    for (const ex of Object.values(examples)) expect(nonEmpty(ex.summary)).toBe(true);
  });
});
