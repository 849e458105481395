// The on-demand test message: an annotation on an EmailServer names a
// recipient; the controller sends one message and records the outcome in
// status. Status remembers the annotation value it handled, so the same value
// never sends twice, and the controller never edits the annotation (a GitOps
// tool would only put it back). To send again, change the value: anything
// after the address ("ops@example.com #2") is a free-form nonce.
import type { EmailServer, EmailServerStatus } from '../api/index.ts';
import { addressProblem } from '../mail/address.ts';
import type { SenderRoute } from '../providers/types.ts';
import type { ReconcileContext, ReconcileOutput } from './smtptarget.ts';


export const TEST_TO_ANNOTATION = 'email.postmaster.dev/test-to';

type TestMessage = NonNullable<EmailServerStatus['testMessage']>;
type Events = NonNullable<ReconcileOutput<unknown>['events']>;

/** Sends the requested test message if the annotation asks for one not yet handled. */
export async function handleTestMessage(
  server: EmailServer,
  /** Called only when a message is to be sent: resolving the route decodes Secrets. */
  route: () => SenderRoute | undefined,
  ctx: ReconcileContext,
): Promise<{ testMessage?: TestMessage; events: Events }> {
  const value = server.metadata.annotations?.[TEST_TO_ANNOTATION]?.trim();
  const previous = server.status?.testMessage;
  if (!value || value === previous?.annotation || !ctx.tester.sendTest) return { testMessage: previous, events: [] };

  const word = value.split(/[\s#]/)[0]!;
  const recipient = word === 'true' || word === 'default' ? server.spec.testRecipient : word;
  const sentAt = ctx.now.toISOString().replace(/\.\d+Z$/, 'Z');
  const fail = (reason: string, message: string) => ({
    testMessage: { annotation: value, recipient: recipient ?? '', sentAt, result: 'Failed' as const, message },
    events: [{ type: 'Warning' as const, reason, message }],
  });
  if (!recipient || addressProblem(recipient)) {
    return fail('TestMessageInvalid', `Annotation ${TEST_TO_ANNOTATION} must be an email address (or "true" with spec.testRecipient set); got "${word}".`);
  }
  if (!server.spec.senderEmail) return fail('TestMessageInvalid', 'Set spec.senderEmail: a test message needs a From address.');
  const resolved = route();
  if (!resolved) return fail('TestMessageNotSent', 'The server\'s route could not be resolved (see its conditions); no test message was sent.');

  const where = `EmailServer "${server.metadata.namespace}/${server.metadata.name}"`;
  const result = await ctx.tester.sendTest(resolved, {
    from: { name: 'postmaster', address: server.spec.senderEmail },
    to: [recipient],
    subject: `postmaster test message from ${where}`,
    text: `This message was requested with the ${TEST_TO_ANNOTATION} annotation on ${where} and sent through ${server.spec.provider}.\n`,
  });
  const testMessage: TestMessage = {
    annotation: value,
    recipient,
    sentAt,
    result: result.ok ? 'Sent' : 'Failed',
    message: result.message,
  };
  if (result.facts?.messageId) testMessage.messageId = result.facts.messageId;
  return {
    testMessage,
    events: [{ type: result.ok ? 'Normal' : 'Warning', reason: result.ok ? 'TestMessageSent' : result.reason, message: result.message }],
  };
}
