// The ConnectionTester the controller calls: each check of src/providers,
// at most `maxConcurrent` at once so a thousand objects cannot open a
// thousand connections. Every check opens and closes its own connection,
// except SMTP sender verification: addresses for one endpoint share sessions
// (smtp/verify-batch.ts), so ten thousand identities need not mean ten
// thousand logins.
import { checkGraph, verifyGraphSender } from './graph/check.ts';
import { checkMailbox } from './mailbox/index.ts';
import { checkSendGrid } from './sendgrid/check.ts';
import { verifySendGridSender } from './sendgrid/verify-sender.ts';
import { checkSmtp } from './smtp/check.ts';
import { transportFor } from './transports.ts';
import { SmtpSenderBatcher } from './smtp/verify-batch.ts';
import { checkSparkPost } from './sparkpost/check.ts';
import { verifySparkPostSender } from './sparkpost/verify-sender.ts';
import {
  SendError,
  type ApiAccount,
  type ApiProvider,
  type CheckResult,
  type GraphAccount,
  type MailboxEndpoint,
  type MailboxFacts,
  type OutboundMessage,
  type ProviderFacts,
  type SenderRoute,
  type SmtpEndpoint,
  type SmtpFacts,
} from './types.ts';

/** What the reconcilers ask of the outside world. `undefined` means no test ran (no tester configured). */
export interface ConnectionTester {
  smtp(endpoint: SmtpEndpoint): Promise<CheckResult<SmtpFacts> | undefined>;
  provider(provider: ApiProvider, account: ApiAccount, describeKey: string): Promise<CheckResult<ProviderFacts> | undefined>;
  mailbox(endpoint: MailboxEndpoint): Promise<CheckResult<MailboxFacts> | undefined>;
  /** Microsoft Graph: a token with the Mail.Send role. */
  graph(account: GraphAccount, describeKey: string): Promise<CheckResult<ProviderFacts> | undefined>;
  verifySender(route: SenderRoute, address: string): Promise<CheckResult<unknown> | undefined>;
  /** Sends one real message (the test-to annotation); absent when testing is off. */
  sendTest?(route: SenderRoute, message: OutboundMessage): Promise<CheckResult<{ messageId: string }>>;
}

export interface TesterOptions {
  maxConcurrent: number;
  stepTimeoutMs: number;
}

/** A counting semaphore: `run` waits for a free slot. */
export function limiter(max: number): <T>(work: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (work) => {
    if (active >= max) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await work();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

export interface TestMessageSender {
  /** Sends one real message through the route; ok once the upstream accepted it. */
  sendTest(route: SenderRoute, message: OutboundMessage): Promise<CheckResult<{ messageId: string }>>;
}

export function createConnectionTester(opts: TesterOptions): ConnectionTester & TestMessageSender {
  const run = limiter(opts.maxConcurrent);
  const timing = { stepTimeoutMs: opts.stepTimeoutMs };
  const senders = new SmtpSenderBatcher(timing, run);
  return {
    smtp: (endpoint) => run(() => checkSmtp(endpoint, timing)),
    provider: (provider, account, describeKey) =>
      run(() =>
        provider === 'SendGrid'
          ? checkSendGrid(account, { ...timing, describeKey })
          : checkSparkPost(account, { ...timing, describeKey }),
      ),
    mailbox: (endpoint) => run(() => checkMailbox(endpoint, timing)),
    graph: (account, describeKey) => run(() => checkGraph(account, { ...timing, describeKey })),
    verifySender: (route, address) =>
      route.provider === 'SMTP'
        ? senders.verify(route.endpoint, address)
        : run(async () => {
            switch (route.provider) {
              case 'SendGrid':
                return verifySendGridSender(route.account, address, { ...timing, describeKey: route.describeKey });
              case 'SparkPost':
                return verifySparkPostSender(route.account, address, { ...timing, describeKey: route.describeKey });
              case 'MicrosoftGraph':
                return verifyGraphSender(route.account, address, { ...timing, describeKey: route.describeKey });
            }
          }),
    sendTest: (route, message) =>
      run(async () => {
        const transport = transportFor(route);
        try {
          const result = await transport.send(message);
          return {
            ok: true,
            reason: 'TestMessageSent',
            message: `The upstream accepted the test message to ${message.to.join(', ')} (id ${result.messageId}).`,
            transient: false,
            facts: { messageId: result.messageId },
          };
        } catch (err) {
          const e = err instanceof SendError ? err : undefined;
          return {
            ok: false,
            reason: e?.reason ?? 'TestMessageFailed',
            message: `The test message to ${message.to.join(', ')} was not accepted: ${(err as Error).message}`,
            transient: e ? !e.permanent : true,
          };
        } finally {
          await transport.close();
        }
      }),
  };
}
