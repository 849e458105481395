// The transport of a route: an SMTP pool, or the SendGrid, SparkPost or Microsoft Graph API.
import { GraphTransport } from './graph/transport.ts';
import { SendGridTransport } from './sendgrid/transport.ts';
import { SmtpTransport } from './smtp/transport.ts';
import { SparkPostTransport } from './sparkpost/transport.ts';
import type { SenderRoute, Transport } from './types.ts';

export function transportFor(route: SenderRoute): Transport {
  switch (route.provider) {
    case 'SMTP':
      return new SmtpTransport(route.endpoint);
    case 'SendGrid':
      return new SendGridTransport(route.account);
    case 'SparkPost':
      return new SparkPostTransport(route.account);
    case 'MicrosoftGraph':
      return new GraphTransport(route.account);
  }
}
