// What a server's certificate says (facts kept even when it fails) and whether
// it is accepted. Checked here, not by OpenSSL, so the facts survive a failure.
import type tls from 'node:tls';
import type { SmtpFacts } from '../types.ts';
import { errorCode } from './naming.ts';
import { SmtpFailure, SmtpReason } from './reasons.ts';

const CERT_UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
]);

export function certificateFacts(secure: tls.TLSSocket): Partial<SmtpFacts> {
  const facts: Partial<SmtpFacts> = {};
  facts.tlsVersion = secure.getProtocol() ?? undefined;
  facts.tlsCipher = secure.getCipher()?.name;
  const cert = secure.getPeerCertificate();
  if (cert && Object.keys(cert).length > 0) {
    facts.certificateSubject = distinguishedName(cert.subject);
    facts.certificateIssuer = distinguishedName(cert.issuer);
    const notAfter = new Date(cert.valid_to);
    if (!Number.isNaN(notAfter.getTime())) facts.certificateNotAfter = notAfter.toISOString();
  }
  return facts;
}

/** Throws the SmtpFailure that names why the certificate is not accepted for `name`. */
export function verifyCertificate(secure: tls.TLSSocket, name: string, target: string, facts: Partial<SmtpFacts>, caConfigured: boolean): void {
  if (secure.authorized) return;
  const raw: unknown = secure.authorizationError;
  const code = typeof raw === 'string' ? raw : errorCode(raw);
  const subject = facts.certificateSubject ?? 'unknown subject';
  if (code === 'CERT_HAS_EXPIRED') {
    throw new SmtpFailure(
      SmtpReason.CertificateExpired,
      `the certificate of ${target} (${subject}) expired on ${facts.certificateNotAfter ?? 'an unknown date'}: the server needs a renewed certificate.`,
      false,
    );
  }
  if (code === 'CERT_NOT_YET_VALID') {
    throw new SmtpFailure(
      SmtpReason.CertificateNotYetValid,
      `the certificate of ${target} (${subject}) is not valid yet: check the clocks of the server and this cluster.`,
      false,
    );
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const names = subjectAltNames(secure.getPeerCertificate());
    throw new SmtpFailure(
      SmtpReason.CertificateHostnameMismatch,
      `the certificate of ${target} is for ${names || subject}, not ${name}: connect by a name in the certificate, or set tls.serverName to one.`,
      false,
    );
  }
  if (CERT_UNTRUSTED.has(code)) {
    const issuer = facts.certificateIssuer ?? 'an unknown issuer';
    throw new SmtpFailure(
      SmtpReason.CertificateUntrusted,
      `the certificate of ${target} (issued by ${issuer}) is not trusted (${code}): ` +
        `${caConfigured ? 'the CA in tls.caSecretRef did not issue it' : 'set tls.caSecretRef to the CA that issued it'}, or fix the chain the server sends.`,
      false,
    );
  }
  throw new SmtpFailure(SmtpReason.TLSHandshakeFailed, `the certificate of ${target} was rejected (${code}).`, false);
}

function distinguishedName(name: unknown): string | undefined {
  if (!name || typeof name !== 'object') return undefined;
  const parts = Object.entries(name as Record<string, unknown>).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`);
  return parts.length > 0 ? parts.join(', ') : undefined;
}

function subjectAltNames(cert: tls.PeerCertificate): string {
  return (cert.subjectaltname ?? '').replace(/(?:DNS|IP Address):/g, '');
}
