// The reply line an SMTP client reads for each failure: the reply code, the RFC 3463
// code first in the text, one line, a retry hint for temporary refusals that have one,
// and nothing of an unexpected error's own words.
import { describe, expect, it } from 'vitest';
import { EndpointError, ErrorCode, forbidden, rateLimited } from '../../../src/endpoint/errors.ts';
import { oneLine, reply, replyFor } from '../../../src/endpoint/smtp-replies.ts';

const err = (message: string, smtpCode: number, extra: { smtpEnhanced?: string; retryAfterSeconds?: number } = {}) =>
  new EndpointError(message, { code: ErrorCode.UpstreamUnavailable, statusCode: 503, smtpCode, ...extra });

const seen = (e: unknown) => {
  const { reply: r, unexpected } = replyFor(e);
  return { code: r.responseCode, text: r.message, unexpected };
};

describe('replies of our own', () => {
  it('carry the code, the enhanced code before the text, on one line', () => {
    const r = reply(452, '4.5.3', 'Too many\r\nrecipients\x00 ');
    expect(r).toBeInstanceOf(Error);
    expect(r.name).toBe('SmtpReply');
    expect(r.responseCode).toBe(452);
    expect(r.message).toBe('4.5.3 Too many recipients');
  });

  it('pass through replyFor as they are, not as an unexpected error', () => {
    const r = reply(553, '5.1.3', 'RCPT TO: not an email address');
    expect(replyFor(r)).toEqual({ reply: r, unexpected: false });
    // An Error that only looks like one (another name) is a surprise.
    const lookalike = Object.assign(new Error('secret detail'), { responseCode: 250 });
    expect(seen(lookalike)).toEqual({ code: 451, text: '4.3.0 Internal error before the message reached the upstream; retry later.', unexpected: true });
  });
});

describe('an EndpointError becomes its SMTP reply', () => {
  it('its code and enhanced code, its message', () => {
    expect(seen(forbidden('Sender <x@example.com> refused.'))).toEqual({ code: 550, text: '5.7.1 Sender <x@example.com> refused.', unexpected: false });
  });

  it('without an enhanced code: 4.0.0 for 4xx, 5.0.0 for 5xx (499 and 500 are the edges)', () => {
    expect(seen(err('later', 450))).toMatchObject({ code: 450, text: '4.0.0 later' });
    expect(seen(err('later', 499))).toMatchObject({ code: 499, text: '4.0.0 later' });
    expect(seen(err('never', 500))).toMatchObject({ code: 500, text: '5.0.0 never' });
    expect(seen(err('never', 554))).toMatchObject({ code: 554, text: '5.0.0 never' });
  });

  it('a reply code outside 400..599 is answered 451 (the client keeps the message)', () => {
    expect(seen(err('odd', 250))).toMatchObject({ code: 451, text: '4.0.0 odd' });
    expect(seen(err('odd', 399))).toMatchObject({ code: 451 });
    expect(seen(err('edge', 400))).toMatchObject({ code: 400, text: '4.0.0 edge' });
    expect(seen(err('edge', 599))).toMatchObject({ code: 599, text: '5.0.0 edge' });
    expect(seen(err('odd', 600))).toMatchObject({ code: 451, text: '4.0.0 odd' });
  });

  it('a temporary refusal with a wait says how long, unless its text already speaks of retrying', () => {
    expect(seen(rateLimited('SenderIdentity "team/alerts"', 7)).text).toBe('4.7.1 Rate limit of SenderIdentity "team/alerts" reached; retry after 7s.');
    expect(seen(err('Slow down.', 451, { retryAfterSeconds: 3 })).text).toBe('4.0.0 Slow down. Retry after 3s.');
    expect(seen(err('Busy; RETRY later.', 451, { retryAfterSeconds: 3 })).text).toBe('4.0.0 Busy; RETRY later.');
    // "retrying" is not the word "retry": the hint is added.
    expect(seen(err('Still retrying.', 451, { retryAfterSeconds: 3 })).text).toBe('4.0.0 Still retrying. Retry after 3s.');
  });

  it('a permanent refusal never gets a retry hint, nor does a temporary one without a wait', () => {
    expect(seen(err('No.', 550, { retryAfterSeconds: 3 })).text).toBe('5.0.0 No.');
    expect(seen(err('No.', 500, { retryAfterSeconds: 3 })).text).toBe('5.0.0 No.');
    expect(seen(err('Later.', 499, { retryAfterSeconds: 3 })).text).toBe('4.0.0 Later. Retry after 3s.');
    expect(seen(err('Later.', 451)).text).toBe('4.0.0 Later.');
  });

  it('anything else is an internal error: 451 4.3.0, its own text never shown', () => {
    for (const e of [new Error('password=hunter2'), 'a string', undefined, { message: 'object' }]) {
      expect(seen(e)).toEqual({ code: 451, text: '4.3.0 Internal error before the message reached the upstream; retry later.', unexpected: true });
    }
  });
});

describe('one line', () => {
  it('control characters become one space each run; the ends are trimmed', () => {
    expect(oneLine('  a\r\n\tb\x7f\x00c  ')).toBe('a b c');
  });

  it('at most 400 characters: longer text is cut to 397 and an ellipsis', () => {
    expect(oneLine('x'.repeat(400))).toBe('x'.repeat(400));
    const cut = oneLine(`${'y'.repeat(397)}abcdef`);
    expect(cut).toBe(`${'y'.repeat(397)}...`);
    expect(cut).toHaveLength(400);
  });
});
