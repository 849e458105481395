// The string formats the API server checks in our schemas, as it checks them
// (kube-openapi's strfmt registry). Formats it does not know are ignored there,
// so they are ignored here too.
import { isIP } from 'node:net';

/** Go's net/mail.ParseAddress, which strfmt's "email" calls: `a@b`, `"quoted"@b`, `Name <a@b>`. Comments are not understood. */
export function isEmail(value: string): boolean {
  const s = value.trim();
  if (s === '') return false;
  const bare = addrSpec(s, 0);
  if (bare !== undefined && skipSpace(s, bare) === s.length) return true;
  // [phrase] "<" addr-spec ">"
  let i = 0;
  for (;;) {
    i = skipSpace(s, i);
    if (s[i] === '<') break;
    const word = s[i] === '"' ? quotedString(s, i) : atom(s, i, true, true);
    if (word === undefined) return false;
    i = word;
  }
  const end = addrSpec(s, i + 1);
  return end !== undefined && s[end] === '>' && skipSpace(s, end + 1) === s.length;
}

function skipSpace(s: string, i: number): number {
  while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
  return i;
}

/** RFC 5322 atext as Go defines it: printable ASCII but the specials, and anything beyond ASCII. */
function isAtext(ch: string, dot: boolean): boolean {
  if (ch === '.') return dot;
  if ('()<>[]:;@\\,"'.includes(ch)) return false;
  const c = ch.codePointAt(0)!;
  return (c >= 0x21 && c <= 0x7e) || c >= 0x80;
}

/** End of the atom starting at i, or undefined. `permissive` allows the dots a display name may carry. */
function atom(s: string, i: number, dot: boolean, permissive: boolean): number | undefined {
  let j = i;
  while (j < s.length && isAtext(s[j]!, dot)) j++;
  if (j === i) return undefined;
  const text = s.slice(i, j);
  if (!permissive && (text.startsWith('.') || text.endsWith('.') || text.includes('..'))) return undefined;
  return j;
}

function quotedString(s: string, i: number): number | undefined {
  let j = i + 1;
  let content = 0;
  while (j < s.length) {
    const ch = s[j]!;
    if (ch === '"') return content > 0 ? j + 1 : undefined;
    if (ch === '\\') j++;
    else if (ch.codePointAt(0)! < 0x20 && ch !== '\t') return undefined;
    j++;
    content++;
  }
  return undefined;
}

function addrSpec(s: string, start: number): number | undefined {
  let i = skipSpace(s, start);
  const local = s[i] === '"' ? quotedString(s, i) : atom(s, i, true, false);
  if (local === undefined || s[local] !== '@') return undefined;
  i = skipSpace(s, local + 1);
  if (s[i] === '[') {
    const close = s.indexOf(']', i);
    if (close < 0) return undefined;
    // Go accepts only an IP address in a domain literal.
    return isIP(s.slice(i + 1, close)) ? close + 1 : undefined;
  }
  return atom(s, i, true, false);
}

/** strfmt's "date-time": RFC 3339, as Go's time package parses it. */
export function isDateTime(value: string): boolean {
  return /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.test(value);
}

const formats: Record<string, (value: string) => boolean> = {
  email: isEmail,
  'date-time': isDateTime,
  datetime: isDateTime,
};

/** Whether `value` passes `format`; unknown formats always pass, as on the API server. */
export function checkFormat(format: string, value: string): boolean {
  const check = formats[format];
  return check ? check(value) : true;
}
