// Incoming-mailbox connection checks: log in over IMAP or POP3 as the EmailServer's
// `incoming` block says, and report what happened as a CheckResult.
//
// A check resolves with a result on every outcome (it never rejects), except when
// `opts.signal` is aborted: then it tears the connection down and rejects with the
// signal's reason, like fetch(). When it settles, its sockets and timers are gone.
import type { CheckOptions, CheckResult, MailboxEndpoint, MailboxFacts } from '../types.ts';
import { checkImap } from './imap.ts';
import { checkPop3 } from './pop3.ts';

export { checkImap } from './imap.ts';
export { checkPop3 } from './pop3.ts';
export { MailboxReason, transientReasons } from './reasons.ts';

export function checkMailbox(endpoint: MailboxEndpoint, opts: CheckOptions = {}): Promise<CheckResult<MailboxFacts>> {
  switch (endpoint.protocol) {
    case 'IMAP':
      return checkImap(endpoint, opts);
    case 'POP3':
      return checkPop3(endpoint, opts);
  }
}
