// TokenReview / SubjectAccessReview requests and their cache, with a table-driven API server.
import { describe, expect, it } from 'vitest';
import { Authenticator, jwtExpiry, serviceAccountNamespace } from '../../../src/endpoint/auth.ts';
import { sha256 } from '../../../src/store/hash.ts';
import { FakeKube, serviceAccount } from '../../support/endpoint-fakes.ts';

const jwt = (claims: Record<string, unknown>) =>
  `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.c2ln`;

describe('Authenticator', () => {
  it('asks for the audience "postmaster" and the verb send on the named identity', async () => {
    const kube = new FakeKube();
    kube.tokens.set('t', { username: serviceAccount('team', 'app'), uid: 'u-1', groups: ['system:serviceaccounts'] });
    kube.allow(serviceAccount('team', 'app'), 'team', 'alerts');
    const auth = new Authenticator({ client: kube });
    const caller = await auth.authenticate('t');
    expect(caller).toMatchObject({ username: 'system:serviceaccount:team:app', namespace: 'team', uid: 'u-1' });
    await auth.authorize(caller, 'team', 'alerts');
    expect(kube.bodies[0]).toMatchObject({ kind: 'TokenReview', spec: { token: 't', audiences: ['postmaster'] } });
    expect(kube.bodies[1]).toMatchObject({
      kind: 'SubjectAccessReview',
      spec: {
        user: 'system:serviceaccount:team:app',
        uid: 'u-1',
        groups: ['system:serviceaccounts'],
        resourceAttributes: { group: 'email.postmaster.dev', resource: 'senderidentities', verb: 'send', namespace: 'team', name: 'alerts' },
      },
    });
  });

  it('refuses users that are not ServiceAccounts (no namespace to look identities up in)', async () => {
    const kube = new FakeKube();
    kube.tokens.set('t', { username: 'jane@example.com' });
    await expect(new Authenticator({ client: kube }).authenticate('t')).rejects.toMatchObject({ statusCode: 403 });
  });

  it('caches refusals too, by token hash, and shares concurrent reviews', async () => {
    const kube = new FakeKube();
    const auth = new Authenticator({ client: kube });
    const tries = await Promise.allSettled([1, 2, 3].map(() => auth.authenticate('unknown')));
    expect(tries.every((t) => t.status === 'rejected')).toBe(true);
    await expect(auth.authenticate('unknown')).rejects.toMatchObject({ statusCode: 401 });
    expect(kube.calls.tokenReviews).toBe(1);
  });

  it('never caches a token past its exp claim, and refuses expired JWTs without asking', async () => {
    let now = 1_700_000_000_000;
    const kube = new FakeKube();
    const token = jwt({ exp: now / 1000 + 3 });
    kube.tokens.set(token, { username: serviceAccount('team', 'app') });
    const auth = new Authenticator({ client: kube, now: () => now, cacheTtlMs: 10_000 });
    await auth.authenticate(token);
    now += 2_000;
    await auth.authenticate(token);
    expect(kube.calls.tokenReviews).toBe(1);
    now += 2_000;
    await expect(auth.authenticate(token)).rejects.toMatchObject({ statusCode: 401, message: expect.stringContaining('expired') });
    expect(kube.calls.tokenReviews).toBe(1);
  });

  it('refuses malformed tokens without a call', async () => {
    const kube = new FakeKube();
    const auth = new Authenticator({ client: kube });
    await expect(auth.authenticate('two words')).rejects.toMatchObject({ statusCode: 401 });
    await expect(auth.authenticate('x'.repeat(20_000))).rejects.toMatchObject({ statusCode: 401 });
    expect(kube.calls.tokenReviews).toBe(0);
  });
});

describe('helpers', () => {
  it('reads exp without verifying, and ServiceAccount namespaces', () => {
    expect(jwtExpiry(jwt({ exp: 1234 }))).toBe(1_234_000);
    expect(jwtExpiry('opaque')).toBeUndefined();
    expect(jwtExpiry('a.!!!.c')).toBeUndefined();
    expect(serviceAccountNamespace('system:serviceaccount:team:app')).toBe('team');
    expect(serviceAccountNamespace('system:serviceaccount:team')).toBeUndefined();
    expect(serviceAccountNamespace('admin')).toBeUndefined();
    expect(sha256('t')).toHaveLength(64);
  });
});

describe('while the API server cannot be reached', () => {
  const setup = (graceMs = 60_000) => {
    let now = 1_000_000;
    const kube = new FakeKube();
    const app = serviceAccount('team', 'app');
    kube.tokens.set('known', { username: app });
    kube.tokens.set('denied', { username: serviceAccount('team', 'other') });
    kube.tokens.set('new', { username: serviceAccount('team', 'late') });
    kube.allow(app, 'team', 'alerts');
    const auth = new Authenticator({ client: kube, cacheTtlMs: 1_000, outageGraceMs: graceMs, now: () => now });
    return { kube, auth, tick: (ms: number) => (now += ms), now: () => now };
  };

  it('keeps serving a caller accepted before, for the grace and no longer', async () => {
    const { kube, auth, tick } = setup();
    await auth.authorize(await auth.authenticate('known'), 'team', 'alerts');
    kube.down = true;
    tick(30_000); // well past the 1 s cache: the answers come from the outage grace
    await auth.authorize(await auth.authenticate('known'), 'team', 'alerts');
    expect(kube.bodies).toHaveLength(4); // it did ask both again, and the API server was down
    tick(31_000); // past the grace, counted from the last accepted answer
    await expect(auth.authenticate('known')).rejects.toMatchObject({ statusCode: 503, code: 'POSTMASTER_AUTH_UNAVAILABLE' });
  });

  it('never guesses for a new caller or turns a denial into a yes', async () => {
    const { kube, auth, tick } = setup();
    const denied = await auth.authenticate('denied');
    await expect(auth.authorize(denied, 'team', 'alerts')).rejects.toMatchObject({ statusCode: 403 });
    kube.down = true;
    tick(5_000);
    await expect(auth.authenticate('new')).rejects.toMatchObject({ statusCode: 503 });
    await expect(auth.authorize(await auth.authenticate('denied'), 'team', 'alerts')).rejects.toMatchObject({ statusCode: 503 });
  });

  it('never serves a token past its own expiry', async () => {
    const { kube, auth, tick, now } = setup();
    const token = jwt({ exp: Math.floor((now() + 10_000) / 1000) });
    kube.tokens.set(token, { username: serviceAccount('team', 'app') });
    await auth.authenticate(token);
    kube.down = true;
    tick(5_000);
    await expect(auth.authenticate(token)).resolves.toMatchObject({ namespace: 'team' });
    tick(6_000);
    await expect(auth.authenticate(token)).rejects.toMatchObject({ statusCode: 401 });
  });

  it('with a grace of 0, an outage refuses at once after the cache', async () => {
    const { kube, auth, tick } = setup(0);
    await auth.authenticate('known');
    kube.down = true;
    tick(2_000);
    await expect(auth.authenticate('known')).rejects.toMatchObject({ statusCode: 503 });
  });
});
