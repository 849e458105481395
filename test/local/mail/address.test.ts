// The one address rule: strict ASCII by default; UTF-8 local parts only for an
// SMTPUTF8 transaction (RFC 6531), the domain always in its ASCII form.
import { describe, expect, it } from 'vitest';
import { addressProblem, INTERNATIONALIZED_PROBLEM, needsSmtpUtf8, parseMailbox } from '../../../src/mail/address.ts';

describe('internationalized addresses', () => {
  it('need SMTPUTF8 for a non-ASCII local part, not for a punycoded domain', () => {
    expect(needsSmtpUtf8('josé@example.org')).toBe(true);
    expect(needsSmtpUtf8('jose@xn--bcher-kva.example')).toBe(false);
    expect(needsSmtpUtf8('jose@bücher.example')).toBe(false);
  });

  it('are refused with the reason unless the transaction declared SMTPUTF8', () => {
    expect(addressProblem('josé@example.org')).toBe(INTERNATIONALIZED_PROBLEM);
    expect(addressProblem('josé@example.org', { utf8LocalPart: true })).toBeUndefined();
    expect(addressProblem('用户.名@example.org', { utf8LocalPart: true })).toBeUndefined();
    expect(parseMailbox('José <josé@example.org>', { utf8LocalPart: true })).toEqual({ mailbox: { name: 'José', address: 'josé@example.org' } });
  });

  it('keep the rest of the rule: dots, domain form, controls, length in octets', () => {
    const utf8 = { utf8LocalPart: true };
    expect(addressProblem('josé..x@example.org', utf8)).toBe('"josé..x@example.org" is not an email address');
    expect(addressProblem('josé@localhost', utf8)).toBe('"josé@localhost" is not an email address');
    expect(addressProblem('jose@bücher.example', utf8)).toBe('the domain must be in its ASCII (punycode) form');
    expect(addressProblem('jos\u0085é@example.org', utf8)).toBe('must not contain control characters (CR, LF, ...)');
    // 33 two-octet characters: 33 characters, 66 octets, over RFC 5321's 64.
    expect(addressProblem(`${'é'.repeat(33)}@example.org`, utf8)).toBe('is too long for an email address');
    expect(addressProblem(`${'é'.repeat(32)}@example.org`, utf8)).toBeUndefined();
  });
});
