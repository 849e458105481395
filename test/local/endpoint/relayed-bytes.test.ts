// The relay's edits touch the header section only; the client's body goes out as the
// very bytes received (RFC 5321 section 4.4), held once however large the message is.
import { describe, expect, it } from 'vitest';
import { relayedMessage } from '../../../src/endpoint/pass-through.ts';

const policy = { from: { address: 'alerts@example.com' }, messageId: '<id@example.com>', received: 'from a by b; Tue, 01 Dec 2026 09:45:32 +0000', now: new Date(0) };

describe('relayedMessage', () => {
  it("edits the header section and leaves the client's body in place: the last part is a view of what was received", () => {
    const body = `\r\n${'x'.repeat(1024 * 1024)}\r\n`;
    const raw = Buffer.from(`From: someone@else.example\r\nSubject: big\r\n${body}`);
    const parts = relayedMessage(raw, policy);
    const out = Buffer.concat(parts).toString();
    expect(out).toBe(`Received: ${policy.received}\r\nFrom: alerts@example.com\r\nSubject: big\r\nMessage-ID: <id@example.com>\r\nDate: Thu, 01 Jan 1970 00:00:00 +0000\r\n${body}`);
    const rest = parts.at(-1)!;
    expect(rest.length).toBe(Buffer.byteLength(body));
    // Not a copy: the same memory as the received message, so a 25 MB message is held once.
    expect(rest.buffer).toBe(raw.buffer);
    rest[2] = 0x79; // "y"
    expect(raw.toString().endsWith(`\r\ny${'x'.repeat(1024 * 1024 - 1)}\r\n`)).toBe(true);
  });
});
