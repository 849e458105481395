// The header section of a message as bytes: fields kept exactly as written
// (folding, encoded words, 8-bit values), so a relay changes only the fields its
// policy names and carries everything else, and the body, byte for byte.

export interface HeaderField {
  /** Lower-case field name. */
  key: string;
  /** The whole field as written, continuation lines and the final CRLF included. */
  raw: Buffer;
}

export interface SplitMessage {
  fields: HeaderField[];
  /** Everything after the header section: the empty line and the body, untouched. */
  rest: Buffer;
}

const CRLF = Buffer.from('\r\n');

/** Splits at the first empty line. Lines must end in CRLF (the SMTP door checks that first). */
export function splitMessage(raw: Buffer): SplitMessage {
  const fields: HeaderField[] = [];
  let start = 0;
  let i = 0;
  for (;;) {
    const eol = raw.indexOf(CRLF, i);
    if (eol < 0) {
      // No empty line: a message of headers only.
      if (start < raw.length) pushField(fields, raw.subarray(start));
      return { fields, rest: Buffer.alloc(0) };
    }
    if (eol === i && i === start) return { fields, rest: raw.subarray(start) };
    const next = eol + 2;
    // A following line that starts with white space continues this field.
    if (next < raw.length && (raw[next] === 0x20 || raw[next] === 0x09)) {
      i = next;
      continue;
    }
    pushField(fields, raw.subarray(start, next));
    start = next;
    i = next;
  }
}

function pushField(fields: HeaderField[], bytes: Buffer): void {
  const colon = bytes.indexOf(0x3a);
  const key = (colon > 0 ? bytes.subarray(0, colon).toString('latin1') : '').trim().toLowerCase();
  fields.push({ key, raw: bytes });
}

/** One header field, CRLF-terminated. `value` must already be safe for a header (no CR, LF). */
export function field(name: string, value: string): HeaderField {
  return { key: name.toLowerCase(), raw: Buffer.from(`${name}: ${value}\r\n`, 'utf8') };
}

/** The message as parts in order, without copying: fields taken from the original stay views of it. */
export function messageParts(message: SplitMessage): Buffer[] {
  return [...message.fields.map((f) => f.raw), message.rest];
}
