// AUTH on the SMTP door, as the login's outcome: which caller and identity a
// session gets, and the 535/454 a refused login answers with, for generated
// credentials and for ServiceAccount tokens.
import { describe, expect, it } from 'vitest';
import { internalError, upstreamUnavailable } from '../../../src/endpoint/errors.ts';
import { authenticate } from '../../../src/endpoint/smtp-auth.ts';
import { fakeDirectory, fakePipeline } from '../../support/smtp-door-doubles.ts';

const PASSWORD = 'gEn3rated-Pa55word-0123456789abcd';
const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';
const directory = fakeDirectory([{ namespace: 'team-a', name: 'alerts', email: 'alerts@example.com', password: PASSWORD }]);

function deps() {
  const pipeline = fakePipeline(directory);
  const tokenCalls: string[] = [];
  const authenticateToken = pipeline.authenticateToken.bind(pipeline);
  pipeline.authenticateToken = async (t) => {
    tokenCalls.push(t);
    return authenticateToken(t);
  };
  pipeline.tokens.set(TOKEN, { username: 'system:serviceaccount:team-a:grafana', namespace: 'team-a', groups: ['system:serviceaccounts'] });
  return { deps: { directory, pipeline }, pipeline, tokenCalls };
}

const refusal = async (p: Promise<unknown>) => {
  const e = (await p.then(
    () => undefined,
    (err: unknown) => err,
  )) as { smtpCode?: number; smtpEnhanced?: string; message: string } | undefined;
  if (!e) throw new Error('expected the login to be refused');
  return { code: e.smtpCode, enhanced: e.smtpEnhanced, message: e.message };
};

describe('generated credentials', () => {
  it('bind the session to their identity, with a caller named after it', async () => {
    const { deps: d, tokenCalls } = deps();
    expect(await authenticate(d, 'team-a/alerts', PASSWORD)).toEqual({
      caller: { username: 'smtp-credentials:team-a/alerts', namespace: 'team-a', groups: [], boundIdentity: 'alerts' },
      identity: 'alerts',
      via: 'credentials',
    });
    expect(tokenCalls).toEqual([]);
  });

  it('a wrong password, an empty username or password: 535 5.7.8 "Authentication credentials invalid"', async () => {
    const { deps: d, tokenCalls } = deps();
    const invalid = { code: 535, enhanced: '5.7.8', message: 'Authentication credentials invalid' };
    expect(await refusal(authenticate(d, 'team-a/alerts', 'wrong-Pa55word'))).toEqual(invalid);
    expect(await refusal(authenticate(d, '', PASSWORD))).toEqual(invalid);
    expect(await refusal(authenticate(d, 'team-a/alerts', ''))).toEqual(invalid);
    // An empty username with a token: never sent to the API server either.
    expect(await refusal(authenticate(d, '', TOKEN))).toEqual(invalid);
    expect(await refusal(authenticate(d, 'alerts', ''))).toEqual(invalid);
    expect(tokenCalls).toEqual([]);
  });

  it('a password with the dots of a JWT but other characters is a password, never sent as a token', async () => {
    const { deps: d, tokenCalls } = deps();
    await refusal(authenticate(d, 'alerts', 'a.b.c!'));
    await refusal(authenticate(d, 'alerts', 'a.b'));
    await refusal(authenticate(d, 'alerts', '.b.c'));
    await refusal(authenticate(d, 'alerts', 'x a.b.c'));
    await refusal(authenticate(d, 'alerts', 'a.b.c d'));
    expect(tokenCalls).toEqual([]);
  });

  it('a JWT-shaped password of 16 KiB or more is not sent to the API server', async () => {
    const { deps: d, tokenCalls } = deps();
    const huge = `${'a'.repeat(16_380)}.b.c`;
    expect(huge).toHaveLength(16_384);
    expect((await refusal(authenticate(d, 'alerts', huge))).code).toBe(535);
    expect(tokenCalls).toEqual([]);
    const justUnder = `${'a'.repeat(16_379)}.b.c`;
    expect((await refusal(authenticate(d, 'alerts', justUnder))).code).toBe(535);
    expect(tokenCalls).toEqual([justUnder]);
  });
});

describe('a ServiceAccount token', () => {
  it('sends as the identity the username names, bare or with the token\'s namespace', async () => {
    const { deps: d, tokenCalls } = deps();
    const caller = { username: 'system:serviceaccount:team-a:grafana', namespace: 'team-a', groups: ['system:serviceaccounts'] };
    expect(await authenticate(d, 'alerts', TOKEN)).toEqual({ caller, identity: 'alerts', via: 'token' });
    expect(await authenticate(d, 'team-a/alerts', TOKEN)).toEqual({ caller, identity: 'alerts', via: 'token' });
    expect(await authenticate(d, 'a', TOKEN)).toMatchObject({ identity: 'a' });
    expect(tokenCalls).toEqual([TOKEN, TOKEN, TOKEN]);
  });

  it('another namespace in the username: 535 naming the token\'s namespace', async () => {
    const { deps: d } = deps();
    expect(await refusal(authenticate(d, 'team-b/alerts', TOKEN))).toEqual({
      code: 535,
      enhanced: '5.7.8',
      message: 'Authentication credentials invalid: a ServiceAccount token of namespace "team-a" sends only as identities of that namespace',
    });
  });

  it('a username that is not an identity name: 535 saying the username is the SenderIdentity name', async () => {
    const { deps: d } = deps();
    const text = 'Authentication credentials invalid: with a token as the password, the username is the SenderIdentity name';
    for (const username of ['Alerts', 'alerts-', '-alerts', 'grafana@example.com', 'a/b/c', `a${'b'.repeat(253)}`]) {
      expect(await refusal(authenticate(d, username, TOKEN))).toEqual({ code: 535, enhanced: '5.7.8', message: text });
    }
    expect(await authenticate(d, `a${'b'.repeat(252)}`, TOKEN)).toMatchObject({ via: 'token' });
  });

  it("the TokenReview's refusal is passed on; an unavailable API server is 454 (retry); a surprise counts as unavailable", async () => {
    const { deps: d, pipeline } = deps();
    expect(await refusal(authenticate(d, 'alerts', TOKEN.replace(/.$/, 'X')))).toMatchObject({ code: 535 });
    pipeline.authenticateToken = async () => Promise.reject(upstreamUnavailable('not this one'));
    expect(await refusal(authenticate(d, 'alerts', TOKEN))).toMatchObject({ code: 451, message: expect.stringContaining('not this one') });
    pipeline.authenticateToken = async () => Promise.reject(new Error('socket hang up'));
    const surprise = await refusal(authenticate(d, 'alerts', TOKEN));
    expect(surprise).toMatchObject({ code: 454, enhanced: '4.7.0' });
    expect(surprise.message).toContain('the ServiceAccount token');
    void internalError;
  });
});
