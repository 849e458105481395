// The Microsoft Graph provider against a local Graph that follows the documented
// sendMail contract, with tokens from the local Microsoft token endpoint.
import { simpleParser, type AddressObject } from 'mailparser';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { checkGraph, verifyGraphSender } from '../../../src/providers/graph/check.ts';
import { GraphTransport } from '../../../src/providers/graph/transport.ts';
import { configureIdentityEndpoints } from '../../../src/providers/oauth2/endpoints.ts';
import { forgetTokens } from '../../../src/providers/oauth2/token.ts';
import { SendError, type GraphAccount, type OutboundMessage } from '../../../src/providers/types.ts';
import { FakeGraphApi } from '../../support/graph-api.ts';
import { FakeIdentityProvider, testRsaCertificate } from '../../support/oauth2-server.ts';

const TENANT = 'contoso.onmicrosoft.com';
const SENDER = 'app@contoso.example';
const SECRET = `graph~${crypto.randomUUID()}`;
const idp = new FakeIdentityProvider();
const graph = new FakeGraphApi(idp);
const cert = testRsaCertificate();

const app = (clientId: string, extra: Partial<GraphAccount['app']> = {}): GraphAccount => ({
  app: { tenantId: TENANT, clientId, clientSecret: SECRET, ...extra },
  saveToSentItems: true,
});
const sender = app('sender-app');
const reader = app('reader-app', { clientSecret: undefined, certificate: { certificatePem: cert.certificatePem, privateKeyPem: cert.privateKeyPem } });
const noRole = app('no-role-app');

beforeAll(async () => {
  await idp.start();
  await graph.start();
  idp.apps.push(
    { tenantId: TENANT, clientId: 'sender-app', clientSecret: SECRET, roles: { 'https://graph.microsoft.com': ['Mail.Send'] } },
    { tenantId: TENANT, clientId: 'reader-app', certificatePem: cert.certificatePem, roles: { 'https://graph.microsoft.com': ['Mail.Send', 'User.Read.All'] } },
    { tenantId: TENANT, clientId: 'no-role-app', clientSecret: SECRET, roles: { 'https://graph.microsoft.com': ['User.Read.All'] } },
  );
  graph.mailboxes = [SENDER, 'other@contoso.example'];
  configureIdentityEndpoints({ microsoftLogin: idp.url, graph: graph.url });
});

afterAll(async () => {
  configureIdentityEndpoints({});
  await Promise.all([idp.close(), graph.close()]);
});

beforeEach(() => {
  forgetTokens();
  graph.clearFailure();
  graph.accessPolicy = undefined;
  graph.invalidRecipients = [];
  idp.expiresIn = 3599;
});

const message = (extra: Partial<OutboundMessage> = {}): OutboundMessage => ({
  from: { name: 'Contoso App', address: SENDER },
  messageId: `<${crypto.randomUUID()}@contoso.example>`,
  to: ['Ann <ann@example.org>'],
  cc: ['cc@example.org'],
  bcc: ['hidden@example.org'],
  subject: 'Your receipt',
  text: 'Thank you.',
  html: '<p>Thank you. <img src="cid:logo@contoso"></p>',
  headers: { 'X-Order': '4711' },
  attachments: [
    { filename: 'receipt.pdf', contentType: 'application/pdf', content: Buffer.from('%PDF-1.4 receipt') },
    // An inline image the HTML refers to (the fields main's OutboundMessage carries for inline parts).
    { filename: 'logo.png', contentType: 'image/png', content: Buffer.from('png-bytes'), contentId: 'logo@contoso', disposition: 'inline' } as never,
  ],
  ...extra,
});

async function sendError(p: Promise<unknown>): Promise<SendError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(SendError);
  return err as SendError;
}

describe('connection test', () => {
  it('Connected when the token carries the Mail.Send application role (client secret and certificate)', async () => {
    for (const account of [sender, reader]) {
      const r = await checkGraph(account);
      expect(r, r.message).toMatchObject({ ok: true, reason: 'Connected' });
      expect(r.facts?.scopes).toContain('Mail.Send');
      expect(r.facts?.endpoint).toBe(graph.url);
    }
  });

  it('MissingPermission without Mail.Send, naming what to grant', async () => {
    const r = await checkGraph(noRole);
    expect(r).toMatchObject({ ok: false, reason: 'MissingPermission', transient: false });
    expect(r.message).toContain('Mail.Send');
    expect(r.message).toContain('admin consent');
  });

  it('TokenRequestFailed with the AADSTS code on a wrong secret, never the secret', async () => {
    const r = await checkGraph(app('sender-app', { clientSecret: 'wrong-secret-value' }), { describeKey: 'Secret "ns/graph"' });
    expect(r).toMatchObject({ ok: false, reason: 'TokenRequestFailed', transient: false });
    expect(r.message).toContain('AADSTS7000215');
    expect(r.message).toContain('Secret "ns/graph"');
    expect(r.message).not.toContain('wrong-secret-value');
  });
});

describe('sender verification', () => {
  it('is Unknown, saying why, when the app may not read users', async () => {
    const r = await verifyGraphSender(sender, SENDER);
    expect(r).toMatchObject({ ok: false, unknown: true, reason: 'MailboxNotReadable' });
    expect(r.message).toContain('User.Read.All');
  });

  it('reads the mailbox when the app may read users', async () => {
    expect(await verifyGraphSender(reader, SENDER)).toMatchObject({ ok: true, reason: 'SenderVerified' });
    expect(await verifyGraphSender(reader, 'nobody@contoso.example')).toMatchObject({ ok: false, reason: 'SenderNotVerified', transient: false });
  });
});

describe('sendMail with the MIME message', () => {
  it('202: Graph receives the MIME the client built, headers, inline parts, Bcc and Message-ID intact', async () => {
    const transport = new GraphTransport(sender);
    const m = message();
    const result = await transport.send(m);
    expect(result.messageId).toBe(m.messageId);
    expect(result.response).toMatch(/^202 Accepted/);
    const got = graph.messages.at(-1)!;
    expect(got.mailbox).toBe(SENDER);
    expect(got.recipients.sort()).toEqual(['ann@example.org', 'cc@example.org', 'hidden@example.org']);
    const parsed = await simpleParser(got.mime);
    expect(parsed.messageId).toBe(m.messageId);
    expect(parsed.subject).toBe(m.subject);
    expect(parsed.from?.value[0]).toMatchObject({ name: 'Contoso App', address: SENDER });
    expect((parsed.to as AddressObject).value[0]).toMatchObject({ name: 'Ann', address: 'ann@example.org' });
    expect((parsed.bcc as AddressObject).value[0]!.address).toBe('hidden@example.org');
    expect(parsed.headers.get('x-order')).toBe('4711');
    expect(parsed.text?.trim()).toBe('Thank you.');
    // mailparser resolves cid: references into data URIs, so read the reference in the MIME itself.
    expect(got.mime.toString()).toContain('cid:logo@contoso');
    expect(parsed.html).toContain('data:image/png;base64,');
    const part = (name: string) => parsed.attachments.find((a) => a.filename === name);
    expect(part('receipt.pdf')).toMatchObject({ contentType: 'application/pdf', contentDisposition: 'attachment' });
    expect(part('receipt.pdf')!.content.toString()).toBe('%PDF-1.4 receipt');
    expect(part('logo.png')).toMatchObject({ cid: 'logo@contoso', contentDisposition: 'inline', related: true });
    await transport.close();
  });

  it('a message received whole goes as it is, with a Bcc field for the envelope recipients its headers leave out', async () => {
    const transport = new GraphTransport(sender);
    const raw = Buffer.from(
      `Received: by postmaster id q-1; Tue, 1 Dec 2026 10:00:00 +0000\r\nFrom: Contoso App <${SENDER}>\r\nTo: Ann <ann@example.org>\r\n` +
        'Subject: Passed through\r\nMessage-ID: <whole@contoso>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGrüße\r\n',
    );
    await transport.send(message({ raw, to: ['ann@example.org'], cc: [], bcc: ['hidden@example.org'] }));
    const got = graph.messages.at(-1)!;
    expect(got.mime.equals(Buffer.concat([Buffer.from('Bcc: hidden@example.org\r\n'), raw]))).toBe(true);
    expect(got.recipients.sort()).toEqual(['ann@example.org', 'hidden@example.org']);
    await transport.close();
  });

  it('a token that expired mid-run is renewed once and the send succeeds', async () => {
    const transport = new GraphTransport(sender);
    await transport.send(message());
    const before = idp.requests.length;
    idp.expireAll();
    await transport.send(message());
    expect(idp.requests.length).toBe(before + 1);
    await transport.close();
  });

  it('400 ErrorInvalidRecipients is permanent', async () => {
    graph.invalidRecipients = ['ann@example.org'];
    const e = await sendError(new GraphTransport(sender).send(message()));
    expect(e).toMatchObject({ permanent: true, upstreamStatus: 400, reason: 'UpstreamRejected' });
    expect(e.message).toContain('ErrorInvalidRecipients');
  });

  it('403 ErrorAccessDenied from an application access policy is permanent, saying why', async () => {
    graph.accessPolicy = ['other@contoso.example'];
    const e = await sendError(new GraphTransport(sender).send(message()));
    expect(e).toMatchObject({ permanent: true, upstreamStatus: 403 });
    expect(e.message).toContain('ErrorAccessDenied');
    expect(e.message).toContain('application access policy');
  });

  it('401 InvalidAuthenticationToken on a fresh token is permanent', async () => {
    idp.expiresIn = 0;
    const e = await sendError(new GraphTransport(sender).send(message()));
    expect(e).toMatchObject({ permanent: true, upstreamStatus: 401 });
    expect(e.message).toContain('InvalidAuthenticationToken');
  });

  it('429 honours Retry-After; 503 is temporary (the fallback may take it)', async () => {
    graph.failWith({ status: 429, retryAfter: 7, times: 1 });
    const limited = await sendError(new GraphTransport(sender).send(message()));
    expect(limited).toMatchObject({ permanent: false, upstreamStatus: 429, retryAfterSeconds: 7, reason: 'UpstreamRateLimited' });
    graph.failWith({ status: 503, times: 1 });
    const down = await sendError(new GraphTransport(sender).send(message()));
    expect(down).toMatchObject({ permanent: false, upstreamStatus: 503, reason: 'UpstreamUnavailable', outcomeUnknown: false });
  });

  it('a token endpoint that refuses the app is permanent (401-type), one that is down is temporary', async () => {
    const refused = await sendError(new GraphTransport(app('sender-app', { clientSecret: 'nope-nope' })).send(message()));
    expect(refused).toMatchObject({ permanent: true, upstreamStatus: 401 });
    idp.outage = 503;
    try {
      const down = await sendError(new GraphTransport(sender).send(message()));
      expect(down).toMatchObject({ permanent: false });
    } finally {
      idp.outage = undefined;
    }
  });

  it('refuses a message over the 4 MB sendMail limit before sending anything (413)', async () => {
    const sent = graph.messages.length;
    const requests = graph.requests.length;
    const big = message({ attachments: [{ filename: 'big.bin', contentType: 'application/octet-stream', content: Buffer.alloc(3_200_000, 7) }] });
    const e = await sendError(new GraphTransport(sender).send(big));
    expect(e).toMatchObject({ permanent: true, upstreamStatus: 413, reason: 'MessageTooLarge' });
    expect(e.message).toContain('4 MB');
    expect(graph.messages.length).toBe(sent);
    expect(graph.requests.length).toBe(requests);
  });

  it('a refused connection is temporary and not an unknown outcome (nothing was written)', async () => {
    const transport = new GraphTransport({ ...sender, baseUrl: 'http://127.0.0.1:1' });
    const e = await sendError(transport.send(message()));
    expect(e).toMatchObject({ permanent: false, outcomeUnknown: false });
  });
});
