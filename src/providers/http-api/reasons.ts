// The reason constants of the API providers (SendGrid, SparkPost), and the
// options their checks share.
import type { CheckOptions, Region } from '../types.ts';

/** Reasons of key checks and sender verification (CheckResult.reason). */
export const ProviderReason = {
  /** The key works, may send, and the configured IP pool exists. */
  Connected: 'Connected',
  /** 401: the provider does not know the key (revoked, mistyped, or the other region's key). */
  InvalidAPIKey: 'InvalidAPIKey',
  /** SendGrid: the key works but lacks the mail.send scope. */
  MissingSendScope: 'MissingSendScope',
  /** 403 on a call the check needs: the key lacks a permission. */
  MissingPermission: 'MissingPermission',
  /** The configured IP pool does not exist in the account. */
  IPPoolNotFound: 'IPPoolNotFound',
  /** 429 (SparkPost also 420, sending limit): transient. */
  RateLimited: 'RateLimited',
  /** 5xx: transient. */
  ProviderUnavailable: 'ProviderUnavailable',
  /** Connection refused/reset, DNS failure, timeout: transient. */
  APIUnreachable: 'APIUnreachable',
  /** The caller's AbortSignal fired; transient (nothing was decided). */
  Canceled: 'Canceled',
  /** An answer the documented API does not give (e.g. a 404 on a fixed path: wrong baseUrl). */
  UnexpectedResponse: 'UnexpectedResponse',
  /** The sender address is allowed to send (verified single sender, authenticated or verified domain). */
  SenderVerified: 'SenderVerified',
  /** SendGrid: neither a verified single sender nor under a valid authenticated domain. */
  SenderNotVerified: 'SenderNotVerified',
  /** The address is not a syntactically usable mailbox (no domain). */
  InvalidSenderAddress: 'InvalidSenderAddress',
  /** SparkPost: the sending domain exists but its ownership is not verified. */
  SendingDomainNotVerified: 'SendingDomainNotVerified',
  /** SparkPost: the address's domain is not a sending domain of the account. */
  SendingDomainNotFound: 'SendingDomainNotFound',
  /** SparkPost: the sending domain is blocked by compliance. */
  SendingDomainBlocked: 'SendingDomainBlocked',
} as const;
export type ProviderReason = (typeof ProviderReason)[keyof typeof ProviderReason];

/** Reasons carried by SendError from the API transports. */
export const SendReason = {
  /** 4xx other than 429 (and SparkPost 420), or every recipient refused: permanent. */
  UpstreamRejected: 'UpstreamRejected',
  /** 429 (SparkPost also 420): temporary, retryAfterSeconds when the provider said. */
  UpstreamRateLimited: 'UpstreamRateLimited',
  /** 5xx, network error, timeout: temporary. */
  UpstreamUnavailable: 'UpstreamUnavailable',
  /** The message cannot be sent as given (no recipient, no content): permanent, nothing was sent. */
  InvalidMessage: 'InvalidMessage',
  /** The caller's AbortSignal fired before the provider answered: temporary. */
  Canceled: 'Canceled',
} as const;
export type SendReason = (typeof SendReason)[keyof typeof SendReason];

export type ProviderName = 'SendGrid' | 'SparkPost';

/** Options of the provider checks: CheckOptions plus how to name the key in messages. */
export interface ProviderCheckOptions extends CheckOptions {
  /**
   * Where the key came from, for messages, e.g. `Secret "mail/sendgrid" key "apiKey"`.
   * Never the key itself.
   */
  describeKey?: string;
  /**
   * Replaces the public per-region base URLs (an egress proxy per region; tests).
   * `account.baseUrl` still wins over both.
   */
  regionBaseUrls?: Partial<Record<Region, string>>;
}
