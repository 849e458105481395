// What a caller sees of the Authenticator's answers: exact refusals (status and
// text), what is asked of the API server (the requests it receives, and how
// often), the cache's edges (TTL, token expiry, size), and the outage grace.
import { describe, expect, it } from 'vitest';
import { Authenticator, type KubeRequester, type ReviewedCaller } from '../../../src/endpoint/auth.ts';
import { KubeError } from '../../../src/kube/rest.ts';
import { FakeKube, serviceAccount } from '../../support/endpoint-fakes.ts';

const jwt = (claims: Record<string, unknown>) =>
  `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.c2ln`;

/** An API server that answers every TokenReview and SubjectAccessReview as scripted, and records what it was asked. */
class ScriptedKube implements KubeRequester {
  readonly requests: { method: string; path: string; body: unknown; timeoutMs?: number }[] = [];
  tokenStatus: unknown = { status: { authenticated: true, user: { username: serviceAccount('team', 'app') } } };
  accessStatus: unknown = { status: { allowed: true } };
  fail?: Error;

  async request<T>(method: string, path: string, opts: { body?: unknown; timeoutMs?: number } = {}): Promise<T> {
    this.requests.push({ method, path, body: opts.body, ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}) });
    if (this.fail) throw this.fail;
    return (path.endsWith('/tokenreviews') ? this.tokenStatus : this.accessStatus) as T;
  }

  count(kind: 'tokenreviews' | 'subjectaccessreviews'): number {
    return this.requests.filter((r) => r.path.endsWith(`/${kind}`)).length;
  }
}

const app = (extra: Partial<ReviewedCaller> = {}): ReviewedCaller => ({ username: serviceAccount('team', 'app'), namespace: 'team', groups: ['g1', 'g2'], ...extra });

describe('what the Authenticator asks the API server', () => {
  it('POSTs a TokenReview and a SubjectAccessReview, with the per-call timeout', async () => {
    const kube = new ScriptedKube();
    const auth = new Authenticator({ client: kube, timeoutMs: 1234 });
    await auth.authorize(await auth.authenticate('tok'), 'team', 'alerts');
    expect(kube.requests).toEqual([
      {
        method: 'POST',
        path: '/apis/authentication.k8s.io/v1/tokenreviews',
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 'tok', audiences: ['postmaster'] } },
        timeoutMs: 1234,
      },
      {
        method: 'POST',
        path: '/apis/authorization.k8s.io/v1/subjectaccessreviews',
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: 'system:serviceaccount:team:app',
            groups: [],
            resourceAttributes: { group: 'email.postmaster.dev', resource: 'senderidentities', verb: 'send', namespace: 'team', name: 'alerts' },
          },
        },
        timeoutMs: 1234,
      },
    ]);
  });

  it('waits 5 s for the API server by default', async () => {
    const kube = new ScriptedKube();
    await new Authenticator({ client: kube }).authenticate('tok');
    expect(kube.requests[0]!.timeoutMs).toBe(5000);
  });

  it('asks for the audience it was given, and says it in refusals', async () => {
    const kube = new ScriptedKube();
    kube.tokenStatus = { status: { authenticated: false } };
    const auth = new Authenticator({ client: kube, audience: 'mail' });
    await expect(auth.authenticate('tok')).rejects.toMatchObject({
      statusCode: 401,
      message: 'The token was not accepted for audience "mail" (invalid, expired, or for another audience).',
    });
    expect(kube.requests[0]!.body).toMatchObject({ spec: { audiences: ['mail'] } });
  });

  it("passes the reviewed uid, groups and extra on to the SubjectAccessReview", async () => {
    const kube = new ScriptedKube();
    const extra = { 'authentication.kubernetes.io/pod-name': ['web-1'] };
    kube.tokenStatus = { status: { authenticated: true, user: { username: serviceAccount('team', 'app'), uid: 'u-9', groups: ['g'], extra } } };
    const auth = new Authenticator({ client: kube });
    const caller = await auth.authenticate('tok');
    expect(caller).toEqual({ username: 'system:serviceaccount:team:app', namespace: 'team', uid: 'u-9', groups: ['g'], extra });
    await auth.authorize(caller, 'team', 'alerts');
    expect((kube.requests[1]!.body as { spec: unknown }).spec).toMatchObject({ uid: 'u-9', groups: ['g'], extra });
  });

  it('leaves out an empty extra and a missing uid', async () => {
    const kube = new ScriptedKube();
    kube.tokenStatus = { status: { authenticated: true, user: { username: serviceAccount('team', 'app'), extra: {} } } };
    const auth = new Authenticator({ client: kube });
    const caller = await auth.authenticate('tok');
    expect(caller).toEqual({ username: 'system:serviceaccount:team:app', namespace: 'team', groups: [] });
    expect(Object.keys(caller).sort()).toEqual(['groups', 'namespace', 'username']);
    await auth.authorize(caller, 'team', 'alerts');
    const spec = (kube.requests[1]!.body as { spec: Record<string, unknown> }).spec;
    expect(Object.keys(spec).sort()).toEqual(['groups', 'resourceAttributes', 'user']);
  });
});

describe('refusals, as the caller reads them', () => {
  const refusal = async (tokenStatus: unknown, token = 'tok') => {
    const kube = new ScriptedKube();
    kube.tokenStatus = tokenStatus;
    return new Authenticator({ client: kube }).authenticate(token).then(
      () => undefined,
      (e: Error & { statusCode: number }) => ({ status: e.statusCode, message: e.message }),
    );
  };

  it('401 when the API server answers without a status, or authenticated without a user name', async () => {
    const notAccepted = { status: 401, message: 'The token was not accepted for audience "postmaster" (invalid, expired, or for another audience).' };
    expect(await refusal({})).toEqual(notAccepted);
    expect(await refusal(undefined)).toEqual(notAccepted);
    expect(await refusal({ status: { authenticated: true, user: {} } })).toEqual(notAccepted);
    expect(await refusal({ status: { authenticated: true } })).toEqual(notAccepted);
  });

  it('401 for a token the API server accepted for other audiences only', async () => {
    expect(await refusal({ status: { authenticated: true, user: { username: serviceAccount('team', 'app') }, audiences: ['other'] } })).toEqual({
      status: 401,
      message: 'The token is not for audience "postmaster".',
    });
  });

  it('accepts a review that lists our audience among others, or lists none', async () => {
    expect(await refusal({ status: { authenticated: true, user: { username: serviceAccount('team', 'app') }, audiences: ['other', 'postmaster'] } })).toBeUndefined();
    expect(await refusal({ status: { authenticated: true, user: { username: serviceAccount('team', 'app') } } })).toBeUndefined();
  });

  it('403 for a user that is not a ServiceAccount, saying why', async () => {
    expect(await refusal({ status: { authenticated: true, user: { username: 'jane@example.com' } } })).toEqual({
      status: 403,
      message: '"jane@example.com" is not a ServiceAccount: only ServiceAccount tokens say which namespace\'s identities to use.',
    });
    expect(await refusal({ status: { authenticated: true, user: { username: 'system:serviceaccount::app' } } })).toMatchObject({ status: 403 });
    expect(await refusal({ status: { authenticated: true, user: { username: 'system:serviceaccountXteam:app' } } })).toMatchObject({ status: 403 });
    expect(await refusal({ status: { authenticated: true, user: { username: 'system:serviceaccount:team:' } } })).toMatchObject({ status: 403 });
  });

  it('401 for malformed and expired tokens, without asking', async () => {
    const kube = new ScriptedKube();
    let now = 1_700_000_000_000;
    const auth = new Authenticator({ client: kube, now: () => now });
    const malformed = { statusCode: 401, message: 'The bearer token is malformed.' };
    await expect(auth.authenticate('')).rejects.toMatchObject(malformed);
    await expect(auth.authenticate('a\tb')).rejects.toMatchObject(malformed);
    await expect(auth.authenticate('x'.repeat(16_385))).rejects.toMatchObject(malformed);
    const expired = jwt({ exp: now / 1000 });
    await expect(auth.authenticate(expired)).rejects.toMatchObject({ statusCode: 401, message: 'The ServiceAccount token has expired; request a new one.' });
    expect(kube.requests).toHaveLength(0);
    await auth.authenticate('x'.repeat(16_384));
    now -= 1;
    await auth.authenticate(expired);
    expect(kube.count('tokenreviews')).toBe(2);
  });

  it('403 naming the caller, the identity and the RBAC rule it lacks', async () => {
    const kube = new ScriptedKube();
    kube.accessStatus = { status: { allowed: false, reason: 'no RBAC policy matched' } };
    await expect(new Authenticator({ client: kube }).authorize(app(), 'team', 'alerts')).rejects.toMatchObject({
      statusCode: 403,
      code: 'POSTMASTER_FORBIDDEN',
      message:
        '"system:serviceaccount:team:app" may not send as SenderIdentity "team/alerts": it needs the verb "send" on "senderidentities" ' +
        '(group email.postmaster.dev) in namespace "team", for example through a Role and RoleBinding.',
    });
  });

  it('403 unless the review says allowed: true', async () => {
    for (const accessStatus of [{}, undefined, { status: {} }, { status: { allowed: 'yes' } }]) {
      const kube = new ScriptedKube();
      kube.accessStatus = accessStatus;
      await expect(new Authenticator({ client: kube }).authorize(app(), 'team', 'alerts')).rejects.toMatchObject({ statusCode: 403 });
    }
  });

  it('503 saying what could not be checked while the API server is away', async () => {
    const kube = new ScriptedKube();
    kube.fail = new KubeError(503, 'ServiceUnavailable', 'down');
    const auth = new Authenticator({ client: kube });
    await expect(auth.authenticate('tok')).rejects.toMatchObject({
      statusCode: 503,
      message: 'Could not check the token with the Kubernetes API server; retry shortly.',
    });
    await expect(auth.authorize(app(), 'team', 'alerts')).rejects.toMatchObject({
      statusCode: 503,
      message: 'Could not check permission to send with the Kubernetes API server; retry shortly.',
    });
  });
});

describe('the cache', () => {
  const setup = (opts: { ttl?: number; max?: number; grace?: number } = {}) => {
    let now = 1_000_000;
    const kube = new ScriptedKube();
    const auth = new Authenticator({
      client: kube,
      now: () => now,
      ...(opts.ttl !== undefined ? { cacheTtlMs: opts.ttl } : {}),
      ...(opts.max !== undefined ? { maxEntries: opts.max } : {}),
      ...(opts.grace !== undefined ? { outageGraceMs: opts.grace } : {}),
    });
    return { kube, auth, tick: (ms: number) => (now += ms), at: () => now };
  };

  it('reuses a token answer for 10 s by default, and not a moment longer', async () => {
    const { kube, auth, tick } = setup();
    await auth.authenticate('tok');
    tick(9_999);
    await auth.authenticate('tok');
    expect(kube.count('tokenreviews')).toBe(1);
    tick(1);
    await auth.authenticate('tok');
    expect(kube.count('tokenreviews')).toBe(2);
  });

  it('reuses a permission answer, yes or no, for the TTL and asks again after it', async () => {
    const { kube, auth, tick } = setup({ ttl: 1_000 });
    await auth.authorize(app(), 'team', 'alerts');
    tick(999);
    await auth.authorize(app(), 'team', 'alerts');
    expect(kube.count('subjectaccessreviews')).toBe(1);
    tick(1);
    kube.accessStatus = { status: { allowed: false } };
    await expect(auth.authorize(app(), 'team', 'alerts')).rejects.toMatchObject({ statusCode: 403 });
    tick(999);
    await expect(auth.authorize(app(), 'team', 'alerts')).rejects.toMatchObject({ statusCode: 403 });
    expect(kube.count('subjectaccessreviews')).toBe(2);
  });

  it('keeps one permission answer per caller, group set and identity', async () => {
    const { kube, auth } = setup();
    await auth.authorize(app(), 'team', 'alerts');
    await auth.authorize(app({ groups: ['g2', 'g1'] }), 'team', 'alerts');
    expect(kube.count('subjectaccessreviews')).toBe(1);
    await auth.authorize(app({ groups: ['g1'] }), 'team', 'alerts');
    await auth.authorize(app({ uid: 'u-2' }), 'team', 'alerts');
    await auth.authorize(app({ username: serviceAccount('team', 'web') }), 'team', 'alerts');
    await auth.authorize(app(), 'team', 'billing');
    await auth.authorize(app(), 'other', 'alerts');
    expect(kube.count('subjectaccessreviews')).toBe(6);
  });

  it('shares one SubjectAccessReview among concurrent identical questions', async () => {
    const { kube, auth } = setup();
    await Promise.all([1, 2, 3].map(() => auth.authorize(app(), 'team', 'alerts')));
    expect(kube.count('subjectaccessreviews')).toBe(1);
  });

  it('never keeps "the API server was down": the next call asks again and may succeed', async () => {
    const { kube, auth } = setup({ grace: 0 });
    kube.fail = new KubeError(503, 'ServiceUnavailable', 'down');
    await expect(auth.authenticate('tok')).rejects.toMatchObject({ statusCode: 503 });
    await expect(auth.authorize(app(), 'team', 'alerts')).rejects.toMatchObject({ statusCode: 503 });
    kube.fail = undefined;
    await expect(auth.authenticate('tok')).resolves.toMatchObject({ namespace: 'team' });
    await expect(auth.authorize(app(), 'team', 'alerts')).resolves.toBeUndefined();
    expect(kube.requests).toHaveLength(4);
  });

  it('keeps a token only until its exp claim when that comes before the TTL', async () => {
    const { kube, auth, tick, at } = setup({ ttl: 60_000 });
    const token = jwt({ exp: (at() + 5_000) / 1000 });
    await auth.authenticate(token);
    tick(4_999);
    await auth.authenticate(token);
    expect(kube.count('tokenreviews')).toBe(1);
  });

  it('holds at most maxEntries answers, dropping expired ones before live ones', async () => {
    const { kube, auth, tick } = setup({ ttl: 1_000, max: 2 });
    await auth.authenticate('a');
    tick(600);
    await auth.authenticate('b');
    tick(600); // a has expired, b has not
    await auth.authenticate('c'); // three entries: the expired a goes, b stays
    await auth.authenticate('b');
    expect(kube.count('tokenreviews')).toBe(3);
    await auth.authenticate('d'); // none expired: the oldest (b) goes
    await auth.authenticate('c');
    expect(kube.count('tokenreviews')).toBe(4);
    await auth.authenticate('b');
    expect(kube.count('tokenreviews')).toBe(5);
  });

  it('drops an expired answer before an older live one', async () => {
    const { kube, auth, tick, at } = setup({ ttl: 10_000, max: 2 });
    await auth.authenticate('a'); // live until +10 s
    const short = jwt({ exp: (at() + 5_000) / 1000 });
    await auth.authenticate(short); // kept until its exp, +5 s
    tick(5_000);
    await auth.authenticate('c'); // the short one has just expired: it goes, a stays
    await auth.authenticate('a');
    expect(kube.count('tokenreviews')).toBe(3);
  });

  it('keeps callers with different uids apart', async () => {
    const { kube, auth } = setup();
    await auth.authorize(app({ uid: 'u-1' }), 'team', 'alerts');
    await auth.authorize(app({ uid: 'u-2' }), 'team', 'alerts');
    await auth.authorize(app({ uid: 'u-1' }), 'team', 'alerts');
    expect(kube.count('subjectaccessreviews')).toBe(2);
  });

  it('holds 10000 answers by default', async () => {
    const { kube, auth } = setup();
    for (let i = 0; i <= 10_000; i++) await auth.authenticate(`t${i}`);
    await auth.authenticate('t10000');
    await auth.authenticate('t1');
    expect(kube.count('tokenreviews')).toBe(10_001);
    await auth.authenticate('t0');
    expect(kube.count('tokenreviews')).toBe(10_002);
  });
});

describe('reading exp', () => {
  it('only from a three-part token with a numeric exp', async () => {
    const { jwtExpiry } = await import('../../../src/endpoint/auth.ts');
    const claims = Buffer.from(JSON.stringify({ exp: 1234 })).toString('base64url');
    expect(jwtExpiry(`h.${claims}.s`)).toBe(1_234_000);
    expect(jwtExpiry(`h.${claims}`)).toBeUndefined();
    expect(jwtExpiry(`h.${claims}.s.x`)).toBeUndefined();
    expect(jwtExpiry(jwt({ exp: '1234' }))).toBeUndefined();
    expect(jwtExpiry(jwt({}))).toBeUndefined();
  });
});

describe('the outage grace', () => {
  const down = () => new KubeError(503, 'ServiceUnavailable', 'down');

  it('lasts 5 minutes by default, counted from the last accepted answer', async () => {
    let now = 0;
    const kube = new ScriptedKube();
    const auth = new Authenticator({ client: kube, now: () => now, cacheTtlMs: 1_000 });
    await auth.authorize(await auth.authenticate('tok'), 'team', 'alerts');
    kube.fail = down();
    now = 299_999;
    await auth.authorize(await auth.authenticate('tok'), 'team', 'alerts');
    now = 300_000;
    await expect(auth.authenticate('tok')).rejects.toMatchObject({ statusCode: 503 });
    await expect(auth.authorize(app({ groups: [] }), 'team', 'alerts')).rejects.toMatchObject({ statusCode: 503 });
  });

  it('does not cover errors other than unavailability', async () => {
    let now = 0;
    const kube = new ScriptedKube();
    const auth = new Authenticator({ client: kube, now: () => now, cacheTtlMs: 1_000 });
    await auth.authenticate('tok');
    now = 2_000;
    kube.tokenStatus = { status: { authenticated: false } };
    await expect(auth.authenticate('tok')).rejects.toMatchObject({ statusCode: 401 });
  });

  it('serves concurrent callers waiting on the same failed review from the grace too', async () => {
    let now = 0;
    const kube = new ScriptedKube();
    const auth = new Authenticator({ client: kube, now: () => now, cacheTtlMs: 1_000 });
    await auth.authenticate('tok');
    kube.fail = down();
    now = 2_000;
    const all = await Promise.all([1, 2, 3].map(() => auth.authenticate('tok')));
    expect(all.map((c) => c.namespace)).toEqual(['team', 'team', 'team']);
    expect(kube.count('tokenreviews')).toBe(2);
  });

  it('holds at most maxEntries callers', async () => {
    let now = 0;
    const kube = new ScriptedKube();
    const auth = new Authenticator({ client: kube, now: () => now, cacheTtlMs: 1_000, maxEntries: 1 });
    await auth.authenticate('a');
    await auth.authenticate('b');
    kube.fail = down();
    now = 2_000;
    await expect(auth.authenticate('b')).resolves.toMatchObject({ namespace: 'team' });
    await expect(auth.authenticate('a')).rejects.toMatchObject({ statusCode: 503 });
  });

  it('applies to a FakeKube outage as to any other', async () => {
    const kube = new FakeKube();
    kube.tokens.set('known', { username: serviceAccount('team', 'app') });
    let now = 0;
    const auth = new Authenticator({ client: kube, now: () => now, cacheTtlMs: 1_000, outageGraceMs: 10_000 });
    await auth.authenticate('known');
    kube.down = true;
    now = 9_999;
    await expect(auth.authenticate('known')).resolves.toMatchObject({ namespace: 'team' });
    now = 10_000;
    await expect(auth.authenticate('known')).rejects.toMatchObject({ statusCode: 503 });
  });
});
