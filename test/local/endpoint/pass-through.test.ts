// What the relay makes of a client's bytes, as the upstream receives them: our
// Received on top, From set to the identity where the client's stood, Sender, Bcc
// and Return-Path gone, Reply-To, Message-ID and Date added only when absent;
// every other byte as it came.
import { describe, expect, it } from 'vitest';
import { formatFrom, relayedMessage, rfc5322Date, type RelayPolicy } from '../../../src/endpoint/pass-through.ts';
import { encodeMessage, decodeMessage } from '../../../src/endpoint/stored-message.ts';

const policy = (over: Partial<RelayPolicy> = {}): RelayPolicy => ({
  from: { name: 'Alerts', address: 'alerts@example.com' },
  messageId: '<ours@example.com>',
  received: 'from client ([127.0.0.1]) by postmaster (postmaster) with ESMTPA id abc; Tue, 01 Dec 2026 09:45:32 +0000',
  now: new Date('2026-12-01T09:45:32Z'),
  ...over,
});

const relay = (text: string, over: Partial<RelayPolicy> = {}) => Buffer.concat(relayedMessage(Buffer.from(text, 'latin1'), policy(over))).toString('latin1');

describe('the relayed message', () => {
  it("puts the identity's From where the client's stood, Received on top, and drops Sender, Bcc and Return-Path", () => {
    const out = relay(
      'Return-Path: <x@evil.example>\r\nSubject: Disk\r\n full\r\nFrom: Someone <someone@evil.example>\r\nSender: s@evil.example\r\n' +
        'Bcc: hidden@example.org\r\nTo: ops@example.org\r\nReply-To: desk@example.com\r\nMessage-ID: <theirs@example.com>\r\nDate: Mon, 30 Nov 2026 08:00:00 +0000\r\n\r\nbody\r\n.. line\r\n',
    );
    expect(out).toBe(
      `Received: ${policy().received}\r\nSubject: Disk\r\n full\r\nFrom: Alerts <alerts@example.com>\r\nTo: ops@example.org\r\n` +
        'Reply-To: desk@example.com\r\nMessage-ID: <theirs@example.com>\r\nDate: Mon, 30 Nov 2026 08:00:00 +0000\r\n\r\nbody\r\n.. line\r\n',
    );
  });

  it('without a From, Reply-To, Message-ID or Date: From after Received, the others added at the end of the header section', () => {
    expect(relay('To: ops@example.org\r\nSubject: s\r\n\r\nb', { replyTo: 'desk@example.com' })).toBe(
      `Received: ${policy().received}\r\nFrom: Alerts <alerts@example.com>\r\nTo: ops@example.org\r\nSubject: s\r\n` +
        'Reply-To: desk@example.com\r\nMessage-ID: <ours@example.com>\r\nDate: Tue, 01 Dec 2026 09:45:32 +0000\r\n\r\nb',
    );
  });

  it("no Reply-To is added when the policy has none, and the client's stays when it has one", () => {
    expect(relay('Subject: s\r\n\r\nb')).not.toContain('Reply-To');
    expect(relay('reply-to: mine@example.org\r\n\r\nb', { replyTo: 'desk@example.com' })).toContain('reply-to: mine@example.org\r\n');
    expect(relay('reply-to: mine@example.org\r\n\r\nb', { replyTo: 'desk@example.com' })).not.toContain('desk@example.com');
  });

  it('only the first From is replaced; header names are matched whatever their case', () => {
    const out = relay('FROM: a@evil.example\r\nBCC: b@example.org\r\nSENDER: c@evil.example\r\nmessage-id: <m@example.com>\r\nDATE: x\r\n\r\n');
    expect(out).toBe(`Received: ${policy().received}\r\nFrom: Alerts <alerts@example.com>\r\nmessage-id: <m@example.com>\r\nDATE: x\r\n\r\n`);
  });
});

describe('the From field', () => {
  it('a bare address without a name', () => {
    expect(formatFrom({ address: 'a@example.com' })).toBe('a@example.com');
    expect(formatFrom({ name: '', address: 'a@example.com' })).toBe('a@example.com');
  });

  it('atoms as they are; other printable ASCII quoted, with quotes and backslashes escaped', () => {
    expect(formatFrom({ name: "Ops Team #1 !$%&'*+-/=?^_`{|}~", address: 'a@example.com' })).toBe("Ops Team #1 !$%&'*+-/=?^_`{|}~ <a@example.com>");
    expect(formatFrom({ name: 'Ops, Inc. "the" \\ team', address: 'a@example.com' })).toBe('"Ops, Inc. \\"the\\" \\\\ team" <a@example.com>');
    expect(formatFrom({ name: 'Dr. Who', address: 'a@example.com' })).toBe('"Dr. Who" <a@example.com>');
  });

  it('anything else is an RFC 2047 encoded word of its UTF-8 bytes', () => {
    expect(formatFrom({ name: 'Zoë', address: 'a@example.com' })).toBe(`=?UTF-8?B?${Buffer.from('Zoë').toString('base64')}?= <a@example.com>`);
    expect(formatFrom({ name: 'tab\there', address: 'a@example.com' })).toBe(`=?UTF-8?B?${Buffer.from('tab\there').toString('base64')}?= <a@example.com>`);
  });

  it('dates in the RFC 5322 form, in UTC', () => {
    expect(rfc5322Date(new Date('2026-03-04T05:06:07Z'))).toBe('Wed, 04 Mar 2026 05:06:07 +0000');
  });
});

describe('a message as the store keeps it', () => {
  it('bytes as base64, the rest as it is, and back', () => {
    const m = {
      to: ['a@example.org'],
      subject: 's',
      text: 't',
      raw: Buffer.from([0, 1, 2, 0xff]),
      attachments: [{ filename: 'f.bin', contentType: 'application/octet-stream', content: Buffer.from('hello') }],
    };
    const stored = encodeMessage(m);
    expect(stored).toEqual({
      to: ['a@example.org'],
      subject: 's',
      text: 't',
      raw: 'AAEC/w==',
      attachments: [{ filename: 'f.bin', contentType: 'application/octet-stream', content: 'aGVsbG8=' }],
    });
    expect(JSON.parse(JSON.stringify(stored))).toEqual(stored);
    expect(decodeMessage(stored)).toEqual(m);
  });

  it('a message without bytes or attachments has neither after the round trip', () => {
    const stored = encodeMessage({ to: ['a@example.org'], subject: 's', text: 't' });
    expect(stored).toEqual({ to: ['a@example.org'], subject: 's', text: 't' });
    const back = decodeMessage(stored);
    expect(back).toEqual({ to: ['a@example.org'], subject: 's', text: 't' });
    expect('raw' in back || 'attachments' in back).toBe(false);
    // An empty raw is still bytes.
    expect(decodeMessage({ to: [], subject: '', raw: '' }).raw).toEqual(Buffer.alloc(0));
  });
});
