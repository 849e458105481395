// Reason constants of the SMTP checks, and the failure and reply types they travel in.
export const SmtpReason = {
  Connected: 'Connected',
  SenderAccepted: 'SenderAccepted',
  SenderRejected: 'SenderRejected',
  SenderDeferred: 'SenderDeferred',
  InvalidAddress: 'InvalidAddress',
  DNSLookupFailed: 'DNSLookupFailed',
  ConnectionRefused: 'ConnectionRefused',
  ConnectionFailed: 'ConnectionFailed',
  ConnectionClosed: 'ConnectionClosed',
  Timeout: 'Timeout',
  Aborted: 'Aborted',
  ServiceUnavailable: 'ServiceUnavailable',
  ConnectionRejected: 'ConnectionRejected',
  SecurityModeMismatch: 'SecurityModeMismatch',
  TLSHandshakeFailed: 'TLSHandshakeFailed',
  CertificateUntrusted: 'CertificateUntrusted',
  CertificateExpired: 'CertificateExpired',
  CertificateNotYetValid: 'CertificateNotYetValid',
  CertificateHostnameMismatch: 'CertificateHostnameMismatch',
  STARTTLSNotOffered: 'STARTTLSNotOffered',
  STARTTLSRefused: 'STARTTLSRefused',
  AuthenticationFailed: 'AuthenticationFailed',
  AuthenticationNotOffered: 'AuthenticationNotOffered',
  AuthenticationMechanismUnsupported: 'AuthenticationMechanismUnsupported',
  /** OAuth2: the identity provider gave no token (bad client, secret, certificate, scope; or it could not be reached). */
  TokenRequestFailed: 'TokenRequestFailed',
  /** OAuth2: invalid_grant (refresh token revoked or expired, delegation missing). */
  InvalidGrant: 'InvalidGrant',
  /** OAuth2: the SMTP server refused the token with AUTH XOAUTH2. */
  XOAUTH2Rejected: 'XOAUTH2Rejected',
  /** The server says SMTP AUTH is disabled for the tenant or the mailbox (Exchange Online 5.7.139). */
  SmtpAuthDisabled: 'SmtpAuthDisabled',
  ProtocolError: 'ProtocolError',
} as const;
export type SmtpReason = (typeof SmtpReason)[keyof typeof SmtpReason];

/** A failed step: what a CheckResult reports. Messages never contain a secret. */
export class SmtpFailure extends Error {
  readonly reason: SmtpReason;
  readonly transient: boolean;
  constructor(reason: SmtpReason, message: string, transient: boolean) {
    super(message);
    this.name = 'SmtpFailure';
    this.reason = reason;
    this.transient = transient;
  }
}

export interface SmtpReply {
  code: number;
  /** Text of each line, without the code. */
  lines: string[];
}

/** "250 2.1.0 Ok" (multi-line replies joined), shortened: quoted in messages. */
export function replyText(reply: SmtpReply): string {
  const text = `${reply.code} ${reply.lines.join(' ')}`.trim();
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}
