// Path parameters reach the door's own check: a message id longer than the router's
// default limit (100) gets the documented 400 naming `id`, not a bare 414 or 404.
import { afterAll, describe, expect, it } from 'vitest';
import { createHttpDoor } from '../../../src/endpoint/http.ts';
import { createPipeline } from '../../../src/endpoint/pipeline.ts';
import { FakeKube, FakeTransports, PlainDirectory, serviceAccount, silentLog } from '../../support/endpoint-fakes.ts';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhcHAifQ.c2lnbmF0dXJl';
const kube = new FakeKube();
kube.tokens.set(TOKEN, { username: serviceAccount('team', 'app') });
const pipeline = createPipeline({ client: kube, directory: new PlainDirectory(), log: silentLog, createTransport: new FakeTransports().create });
const door = createHttpDoor({ pipeline, log: silentLog });
afterAll(async () => {
  await door.close();
  await pipeline.close();
});

describe('GET /v1/messages/{id}', () => {
  it.each([300, 1000])('an id of %i characters gets 400 naming id', async (length) => {
    const res = await door.app.inject({ method: 'GET', url: `/v1/messages/${'a'.repeat(length)}`, headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: { code: 'POSTMASTER_INVALID_REQUEST', field: 'id' } });
  });
});
