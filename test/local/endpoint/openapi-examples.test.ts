// The request examples of /openapi.json are what readers copy first: each one,
// posted as it stands with a token, is sent (200), and what reaches a real SMTP
// sink is what the example describes: envelope, subject, threading headers, the
// inline image by its Content-ID, the attachment.
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiDocument } from '../../../src/endpoint/openapi.ts';
import type { SendMessageBody } from '../../../src/endpoint/schema.ts';
import { RELAY_TOKEN, startRelayDoors, type RelayDoors } from '../../support/relay-doors.ts';

let relay: RelayDoors;
beforeAll(async () => {
  relay = await startRelayDoors({ identities: ['shop'] });
});
afterAll(async () => {
  await relay?.stop();
});

/** The examples as the document gives them (request bodies, so the type the door parses them into), read in the test so each run builds the document. */
function examples(): Record<string, SendMessageBody> {
  const doc = openApiDocument() as { paths: Record<string, { post?: { requestBody: { content: Record<string, { examples: Record<string, { value: SendMessageBody }> }> } } }> };
  const all = doc.paths['/v1/messages']!.post!.requestBody.content['application/json']!.examples;
  return Object.fromEntries(Object.entries(all).map(([name, e]) => [name, e.value]));
}

const address = (mailbox: string) => /<([^>]+)>$/.exec(mailbox)?.[1] ?? mailbox;

describe('the request examples of /openapi.json', () => {
  it('are the two the document promises: a plain alert and a receipt with an inline logo', () => {
    expect(Object.keys(examples())).toEqual(['alert', 'receipt']);
  });

  it.each(['alert', 'receipt'])('"%s", posted as it stands, is sent, and the sink gets what it describes', async (name) => {
    const example = examples()[name]!;
    const before = relay.sink.messages.length;
    const res = await fetch(`http://127.0.0.1:${relay.httpPort}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${RELAY_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(example),
    });
    const body = (await res.json()) as { messageIdHeader?: string };
    expect(res.status, JSON.stringify(body)).toBe(200);
    await expect.poll(() => relay.sink.messages.length).toBe(before + 1);
    const got = relay.sink.messages.at(-1)!;

    // The envelope: the identity's address, every recipient (Bcc included, as envelope only).
    expect(got.from).toBe(`${example.sender}@example.com`);
    expect(got.to).toEqual([...example.to, ...(example.bcc ?? [])].map(address));
    expect(got.headers.has('bcc')).toBe(false);

    // skipImageLinks: keep cid: references as sent (mailparser would inline them as data: URLs).
    const parsed = await simpleParser(got.raw, { skipImageLinks: true });
    expect(parsed.subject).toBe(example.subject);
    expect(parsed.to && !Array.isArray(parsed.to) ? parsed.to.value.map((a) => a.address) : []).toEqual(example.to.map(address));
    if (example.replyTo) expect(parsed.replyTo?.value[0]?.address).toBe(example.replyTo);
    if (example.text) expect(parsed.text?.trim()).toBe(example.text);
    if (example.html) expect(parsed.html).toContain(example.html);
    for (const [field, value] of Object.entries(example.headers ?? {})) expect(got.headers.get(field.toLowerCase()), field).toEqual([value]);
    if (example.headers?.['Message-ID']) expect(body.messageIdHeader).toBe(example.headers['Message-ID']);

    const attachments = example.attachments ?? [];
    expect(parsed.attachments.map((a) => a.filename)).toEqual(attachments.map((a) => a.filename));
    for (const [i, a] of attachments.entries()) {
      const sent = parsed.attachments[i]!;
      expect(sent.contentType).toBe(a.contentType);
      expect(sent.content.equals(Buffer.from(a.content, 'base64'))).toBe(true);
      if (a.contentId) expect(sent.cid).toBe(a.contentId);
      expect(sent.contentDisposition).toBe(a.disposition ?? 'attachment');
    }
  });
});
