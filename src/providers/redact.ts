// Scrubbing a secret out of text that may leave the process (messages, errors).
/** Replaces every occurrence of the secret (and of obvious encodings of it) in a text. */
export function redact(text: string, secret: string | undefined): string {
  if (!secret || secret.length < 4) return text;
  let out = text;
  const forms = new Set([secret, encodeURIComponent(secret), Buffer.from(secret).toString('base64')]);
  forms.add(Buffer.from(`${secret}:`).toString('base64'));
  for (const form of forms) out = out.split(form).join('[redacted]');
  return out;
}
