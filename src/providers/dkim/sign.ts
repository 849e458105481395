// DKIM signing (RSA-SHA256, Ed25519-SHA256) of a finished message with mailauth:
// a Transform that reads the whole message, signs those exact bytes, and emits
// the DKIM-Signature header fields followed by the message. A key that cannot
// sign fails the stream: a message never leaves unsigned by surprise.
import { Transform, type TransformCallback } from 'node:stream';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import type { DkimSigning } from '../types.ts';

/** The DKIM-Signature header lines (each ending in CRLF) for `message`. */
export async function dkimSignatures(message: Buffer, signing: DkimSigning, signTime?: Date): Promise<string> {
  const headers = signing.headers.some((h) => h.toLowerCase() === 'from') ? signing.headers : ['From', ...signing.headers];
  const result = await dkimSign(message, {
    canonicalization: 'relaxed/relaxed',
    headerList: headers,
    ...(signTime ? { signTime } : {}),
    signatureData: signing.keys.map((k) => ({
      signingDomain: k.domain,
      selector: k.selector,
      privateKey: k.privateKey,
      algorithm: k.algorithm,
    })),
  } as Parameters<typeof dkimSign>[1]);
  if (result.errors?.length) {
    const what = result.errors.map((e) => `${e.selector ?? '?'}._domainkey.${e.signingDomain ?? '?'}: ${(e.err as { code?: string })?.code ?? 'error'}`);
    throw new Error(`DKIM signing failed (${what.join(', ')})`);
  }
  return result.signatures;
}

/** A stream stage that prepends the signatures to the message passing through it. */
export class DkimSignTransform extends Transform {
  readonly #signing: DkimSigning;
  readonly #chunks: Buffer[] = [];

  constructor(signing: DkimSigning) {
    super();
    this.#signing = signing;
  }

  override _transform(chunk: Buffer | string, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    done();
  }

  override _flush(done: TransformCallback): void {
    const message = Buffer.concat(this.#chunks);
    dkimSignatures(message, this.#signing).then(
      (signatures) => {
        this.push(Buffer.from(signatures, 'latin1'));
        this.push(message);
        done();
      },
      (err: unknown) => done(err as Error),
    );
  }
}
