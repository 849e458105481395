// The published request schema and the door's own checks agree, value by value:
// what the schema allows the door sends, what it refuses the door refuses too.
// Fuzzers and generated clients read the schema (schemathesis in
// test/cluster/endpoint/schemathesis.test.ts flags any disagreement it draws);
// this table holds the edges a generator rarely draws: lengths at their limits,
// Unicode white space, quoting and escapes, relay-instruction headers, base64
// padding. The two rules JSON Schema cannot say (100 recipients across to, cc
// and bcc; one header name in any case) are left out on purpose.
import { describe, expect, it } from 'vitest';
import { messageFromBody } from '../../../src/endpoint/message.ts';
import { checkRequestShape, type SendMessageBody } from '../../../src/endpoint/schema.ts';

type Body = Record<string, unknown>;
const base = (): Body => ({ sender: 'alerts', to: ['ann@example.org'], subject: 'agreement', text: 'body' });

function verdicts(body: Body): { schema: boolean; door: boolean } {
  let schema = true;
  let door = true;
  try {
    checkRequestShape(body);
  } catch {
    schema = false;
  }
  try {
    // The door's content checks on their own, as if the schema had let the body through.
    messageFromBody(body as unknown as SendMessageBody);
  } catch {
    door = false;
  }
  return { schema, door };
}

const spaces = [' ', '\u00a0', '\u3000', '\ufeff', '\u2009'];
const local64 = 'l'.repeat(64);
const mailboxes = [
  'ann@example.org',
  'Ann <ann@example.org>',
  '"Doe, Jane" <jane@example.org>',
  '"D\\oe" <jane@example.org>',
  '"D\\"oe" <jane@example.org>',
  '"Doe\\" <jane@example.org>',
  'D\\oe <jane@example.org>',
  '<ann@example.org>',
  'x<ann@example.org>',
  'Jörg Müller <j@example.org>',
  `${'n'.repeat(128)} <a@example.org>`,
  `${'n'.repeat(129)} <a@example.org>`,
  `"${'n'.repeat(128)}" <a@example.org>`,
  `"${'n'.repeat(127)}\\n" <a@example.org>`,
  `${local64}@example.org`,
  `${local64}l@example.org`,
  `a@${'d'.repeat(63)}.${'d'.repeat(63)}.${'d'.repeat(63)}.${'d'.repeat(61)}`,
  `a@${'d'.repeat(63)}.${'d'.repeat(63)}.${'d'.repeat(63)}.${'d'.repeat(62)}`,
  'a..b@example.org',
  '.a@example.org',
  'a@-example.org',
  'a@example',
  'jörg@example.org',
  'a@bücher.example',
  'Ann <ann@example.org> x',
  'Ann\u0007 <ann@example.org>',
  'a, b <ann@example.org>',
  ...spaces.flatMap((s) => [`${s}ann@example.org`, `ann@example.org${s}`, `Ann${s}<ann@example.org>`, `${s}"Ann"${s}<ann@example.org>${s}`, `${s}${s}Ann ${s}<ann@example.org>`]),
];
const bareAddresses = ['help@example.com', ' help@example.com', 'Help <help@example.com>', `${local64}@example.com`, `${local64}x@example.com`, 'h@localhost'];
const headerNames = [
  'X-A', 'x-', 'X-', 'X-SMTPAPI', 'x-smtpapi', 'X-SMTPAPI-Extra', 'X-MSYS-API', 'X-Msys-Api2', 'X-SG-EID', 'X-SGEID', 'X-SES-X', 'x-mailgun-tag',
  'X-PM-Tag', 'X-PMTag', 'X-Postmaster-Route', 'X-Postmasters', `X-${'a'.repeat(74)}`, `X-${'a'.repeat(75)}`, 'List-Id', 'list-unsubscribe-post',
  'List-Idx', 'In-Reply-To', 'References', 'Precedence', 'Auto-Submitted', 'From', 'Bcc', 'Content-Type', 'DKIM-Signature', 'X_A', 'X-A B', 'X-Ä',
];
const messageIds = ['<a@b>', ' <a@b> ', '\u3000<a@b>\u3000', '<a@@b>', '<@b>', '<a b@c>', '<a@b>x', 'a@b', `<${'a'.repeat(246)}@b>`, `<${'a'.repeat(247)}@b>`, `<${'a'.repeat(246)}@b>\u3000\u3000`, '<a<b@c>'];
const headerValues = ['ok', '', 'a\u0085b', 'tab\there', 'x'.repeat(900), 'x'.repeat(901), 'ünï ✓'];
const subjects = ['x', 'a\u2028b', 's'.repeat(998), 's'.repeat(999), ' ', 'ünï ✓'];
const filenames = ['a.txt', '.', '..', '...', '.profile', 'a/b', 'a\\b', 'a"b', 'a\u0001b', 'f'.repeat(255), 'f'.repeat(256), ' ', 'ü.pdf', 'a\u2029'];
const contentTypes = ['text/plain', 'text/plain; charset=x', 'a/b', '/b', 'a/', 'A+B/c.d-e', `${'t'.repeat(127)}/b`, `${'t'.repeat(128)}/b`, 'text/plain/x', 'text /plain'];
const contentIds = ['logo@example.com', 'a', 'a b', '<a>', 'c'.repeat(200), 'c'.repeat(201), 'a\u0000b'];
const base64 = ['', 'AA==', 'AAA=', 'AAAA', 'A', 'AA=', 'A===', '====', 'AA==AA==', 'A A=', 'AAA\n', 'AAAA\r\nAAAA', '-_-_', 'AAAAAA=='];

const cases: [string, Body][] = [
  ...mailboxes.flatMap((m): [string, Body][] => [
    [`to ${JSON.stringify(m)}`, { ...base(), to: [m] }],
    [`cc ${JSON.stringify(m)}`, { ...base(), cc: [m] }],
  ]),
  ...bareAddresses.map((a): [string, Body] => [`replyTo ${JSON.stringify(a)}`, { ...base(), replyTo: a }]),
  ...headerNames.map((n): [string, Body] => [`header name ${n}`, { ...base(), headers: { [n]: 'v' } }]),
  ...messageIds.map((v): [string, Body] => [`Message-ID ${JSON.stringify(v.slice(0, 40))}`, { ...base(), headers: { 'message-id': v } }]),
  ...headerValues.map((v): [string, Body] => [`header value ${JSON.stringify(v.slice(0, 40))} (${v.length})`, { ...base(), headers: { 'X-V': v } }]),
  ...subjects.map((v): [string, Body] => [`subject ${JSON.stringify(v.slice(0, 40))} (${v.length})`, { ...base(), subject: v }]),
  ...filenames.map((v): [string, Body] => [`filename ${JSON.stringify(v.slice(0, 40))} (${v.length})`, { ...base(), attachments: [{ filename: v, content: 'AA==' }] }]),
  ...contentTypes.map((v): [string, Body] => [`contentType ${JSON.stringify(v.slice(0, 40))}`, { ...base(), attachments: [{ filename: 'f', content: '', contentType: v }] }]),
  ...contentIds.map((v): [string, Body] => [`contentId ${JSON.stringify(v.slice(0, 40))}`, { ...base(), html: '<img src="cid:x">', attachments: [{ filename: 'f', content: '', contentId: v, disposition: 'inline' }] }]),
  ...base64.map((v): [string, Body] => [`content ${JSON.stringify(v)}`, { ...base(), attachments: [{ filename: 'f', content: v }] }]),
  ['inline without contentId', { ...base(), attachments: [{ filename: 'f', content: '', disposition: 'inline' }] }],
  ['neither text nor html', { sender: 'alerts', to: ['a@example.org'], subject: 's' }],
  ['empty text, some html', { ...base(), text: '', html: '<p>x</p>' }],
  ['empty text and html', { ...base(), text: '', html: '' }],
];

describe('schema and door agree', () => {
  it.each(cases)('%s', (_name, body) => {
    const { schema, door } = verdicts(body);
    expect({ schema, door }).toEqual({ schema: door, door });
  });

  it('an empty subject is the one rule of the schema alone: HTTP callers give one, mail over SMTP may have none', () => {
    expect(verdicts({ ...base(), subject: '' })).toEqual({ schema: false, door: true });
  });

  it('the table has both answers in it, for every kind of field', () => {
    const answers = cases.map(([, body]) => verdicts(body).door);
    expect(answers.filter(Boolean).length).toBeGreaterThan(60);
    expect(answers.filter((a) => !a).length).toBeGreaterThan(60);
  });
});
