// Sender verification for many identities over few sessions. Addresses asked
// of the same endpoint (same host, port, security, TLS settings and login)
// queue up; a session takes them one by one (MAIL FROM, RSET, MAIL FROM, ...)
// within the endpoint's pool limits: at most `maxConnections` sessions, at
// most `maxMessagesPerConnection` addresses each. A session lingers briefly for
// more before QUIT, so identities reconciled one after another share it too.
// Each address still gets its own result: one refused sender refuses only itself.
import type { CheckOptions, CheckResult, SmtpEndpoint } from '../types.ts';
import { SmtpSession } from './session.ts';
import { invalidSender, offerSender } from './verify-sender.ts';
import { failureResult, redactResult } from './with-session.ts';

export interface BatchOptions extends CheckOptions {
  /** How long an idle session waits for another address before QUIT. */
  lingerMs?: number;
}

interface Ask {
  address: string;
  resolve(result: CheckResult): void;
  /** Re-offered once on a fresh session when a used session broke under it. */
  retried: boolean;
}

interface EndpointQueue {
  endpoint: SmtpEndpoint;
  waiting: Ask[];
  sessions: number;
  /** Lingering sessions, woken by the next address. */
  idle: (() => void)[];
}

/** `slot` is the tester's limiter: a session holds one slot for its whole life. */
export type Slot = <T>(work: () => Promise<T>) => Promise<T>;

export class SmtpSenderBatcher {
  readonly #queues = new Map<string, EndpointQueue>();
  readonly #opts: BatchOptions;
  readonly #slot: Slot;
  /** Sessions opened so far (metrics, tests). */
  sessionsOpened = 0;

  constructor(opts: BatchOptions, slot: Slot) {
    this.#opts = opts;
    this.#slot = slot;
  }

  verify(endpoint: SmtpEndpoint, address: string): Promise<CheckResult> {
    const invalid = invalidSender(address);
    if (invalid) return Promise.resolve(invalid);
    const key = JSON.stringify(endpoint);
    let q = this.#queues.get(key);
    if (!q) this.#queues.set(key, (q = { endpoint, waiting: [], sessions: 0, idle: [] }));
    const queue = q;
    return new Promise((resolve) => {
      queue.waiting.push({ address, resolve, retried: false });
      this.#pump(key, queue);
    });
  }

  #pump(key: string, q: EndpointQueue): void {
    const wake = q.idle.shift();
    if (wake) return wake();
    const max = Math.max(1, q.endpoint.pool?.maxConnections ?? 5);
    if (q.waiting.length > 0 && q.sessions < max) {
      q.sessions++;
      void this.#slot(() => this.#session(q)).finally(() => {
        q.sessions--;
        if (q.waiting.length > 0) this.#pump(key, q);
        else if (q.sessions === 0) this.#queues.delete(key);
      });
    }
  }

  async #session(q: EndpointQueue): Promise<void> {
    if (q.waiting.length === 0) return;
    const session = new SmtpSession(q.endpoint, this.#opts);
    const limit = Math.max(1, q.endpoint.pool?.maxMessagesPerConnection ?? 100);
    const finish = (ask: Ask, result: CheckResult) => ask.resolve(redactResult(result, q.endpoint));
    try {
      this.sessionsOpened++;
      try {
        await session.open();
      } catch (err) {
        // Same endpoint, same login: a fresh session now would fail the same way for each of them.
        const failure = failureResult<undefined>(err, session.target);
        for (const ask of q.waiting.splice(0)) finish(ask, failure);
        return;
      }
      let served = 0;
      for (let ask = await this.#next(q); ask; ask = served < limit ? await this.#next(q) : undefined) {
        let outcome: Awaited<ReturnType<typeof offerSender>>;
        try {
          outcome = await offerSender(session, ask.address);
        } catch (err) {
          // A session that served others may have hit a server's per-session limit: try this one afresh.
          if (served > 0 && !ask.retried) q.waiting.unshift({ ...ask, retried: true });
          else finish(ask, failureResult<undefined>(err, session.target));
          return;
        }
        finish(ask, outcome.result);
        served++;
        if (!outcome.reset) return;
      }
      await session.quit();
    } finally {
      await session.close();
    }
  }

  /** The next waiting address, or undefined once the session sat idle for `lingerMs`. */
  async #next(q: EndpointQueue): Promise<Ask | undefined> {
    const now = q.waiting.shift();
    if (now) return now;
    const linger = this.#opts.lingerMs ?? 50;
    if (linger <= 0) return undefined;
    await new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        const i = q.idle.indexOf(wake);
        if (i >= 0) q.idle.splice(i, 1);
        resolve();
      }, linger);
      q.idle.push(wake);
    });
    return q.waiting.shift();
  }
}
