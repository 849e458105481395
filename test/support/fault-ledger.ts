// What the fault suite (test/faults/) counts with: an upstream that names and
// counts every message across its own restarts, clients that retry as a careful
// app would (the same Idempotency-Key on 5xx, 429, 408, 409-in-use and network
// errors, a bounded number of times, Retry-After honoured but capped), and the
// ledger that holds the two side by side and says what was lost or sent twice.
import { freePort } from './ports.ts';
import type { Operator } from './operator.ts';
import { startSmtpSink, type ReceivedMessage, type SinkOptions, type SmtpSink } from './smtp-sink.ts';

/** One message arrival at the upstream, by the name the client gave it (its subject). */
export interface Arrival {
  name: string;
  messageId: string;
}

export interface CountingSink {
  port: number;
  /** Every arrival so far, across restarts, in order. */
  arrivals: Arrival[];
  /** Arrivals per name. */
  count(name: string): number;
  readonly up: boolean;
  /** Starts (or restarts, on the same port) with these options. */
  start(opts?: Partial<SinkOptions>): Promise<void>;
  /** Closes the listener and drops every connection at once, mid-dialogue or not. */
  kill(): Promise<void>;
}

export async function startCountingSink(opts: Partial<SinkOptions> = {}): Promise<CountingSink> {
  const port = await freePort();
  const arrivals: Arrival[] = [];
  const counts = new Map<string, number>();
  let sink: SmtpSink | undefined;
  const record = (m: ReceivedMessage) => {
    const name = m.headers.get('subject')?.[0] ?? '';
    arrivals.push({ name, messageId: m.headers.get('message-id')?.[0] ?? '' });
    counts.set(name, (counts.get(name) ?? 0) + 1);
  };
  const s: CountingSink = {
    port,
    arrivals,
    count: (name) => counts.get(name) ?? 0,
    get up() {
      return sink !== undefined;
    },
    async start(more = {}) {
      if (sink) return;
      const o = { mode: 'None' as const, ...opts, ...more, port };
      sink = await startSmtpSink(o);
      const live = sink;
      // The sink appends to its own list; copy each arrival into the ledger as it lands.
      const push = live.messages.push.bind(live.messages);
      live.messages.push = (...items: ReceivedMessage[]) => {
        for (const m of items) record(m);
        return push(...items);
      };
    },
    async kill() {
      const live = sink;
      sink = undefined;
      await live?.close();
    },
  };
  await s.start();
  return s;
}

/** What the client saw for one request: `ok`, an error code, or `network:<code>` when no answer came. */
export interface Answer {
  status: number;
  code: string;
}

export interface MessageRecord {
  name: string;
  key: string;
  answers: Answer[];
  /** The last answer: 2xx, or the one the client gave up on. */
  final: Answer;
}

const TEMPORARY_4XX = new Set(['POSTMASTER_RATE_LIMITED', 'POSTMASTER_REQUEST_TIMEOUT', 'POSTMASTER_IDEMPOTENCY_KEY_IN_USE', 'POSTMASTER_IDENTITY_NOT_READY']);
const is2xx = (a: Answer) => a.status >= 200 && a.status < 300;
const isNetwork = (a: Answer) => a.status === 0;
/** No answer, on a connection that was open: the request may have been taken (a refused connection took nothing). */
const unanswered = (a: Answer) => isNetwork(a) && a.code !== 'network:ECONNREFUSED';
export const retriable = (a: Answer) => isNetwork(a) || a.status >= 500 || TEMPORARY_4XX.has(a.code);

export interface ClientOptions {
  token: string;
  /** The replicas a request may go to; the n-th attempt of message i goes to targets()[(i + n) % length], as a Service would spread them. */
  targets: () => Operator[];
  /** Attempts per message, the first included. Default 12. */
  maxAttempts?: number;
  /** Retry-After is honoured up to this long. Default 500 ms. */
  retryAfterCapMs?: number;
  /** One request gives up after this long (an answer counts as network:timeout). Default 40 s. */
  requestTimeoutMs?: number;
  /** The message body for a name. */
  message: (name: string) => Record<string, unknown>;
}

/** Sends one message as a careful app does: until a 2xx, a permanent refusal, or the attempts run out. */
export async function sendWithRetries(c: ClientOptions, seq: number, name: string): Promise<MessageRecord> {
  const key = `fault-${name}`;
  const answers: Answer[] = [];
  const max = c.maxAttempts ?? 12;
  const cap = c.retryAfterCapMs ?? 500;
  for (let n = 0; ; n++) {
    const targets = c.targets();
    const op = targets[(seq + n) % targets.length]!;
    let answer: Answer;
    let waitMs = Math.min(cap, 50 * 2 ** n);
    try {
      const res = await fetch(`http://127.0.0.1:${op.httpPort}/v1/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${c.token}`, 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify(c.message(name)),
        signal: AbortSignal.timeout(c.requestTimeoutMs ?? 40_000),
      });
      const body = (await res.json().catch(() => ({}))) as { error?: { code?: string } };
      answer = { status: res.status, code: res.ok ? 'ok' : (body.error?.code ?? `HTTP_${res.status}`) };
      const after = Number(res.headers.get('retry-after'));
      if (after > 0) waitMs = Math.min(cap, after * 1000);
    } catch (err) {
      const e = err as { name?: string; cause?: { code?: string } };
      answer = { status: 0, code: `network:${e.name === 'TimeoutError' ? 'timeout' : (e.cause?.code ?? e.name ?? 'error')}` };
    }
    answers.push(answer);
    if (!retriable(answer) || n + 1 >= max) return { name, key, answers, final: answer };
    await new Promise((r) => setTimeout(r, waitMs));
  }
}

/**
 * Runs `count` clients' messages `concurrency` at a time, named `${prefix}-${i}`; `progress` counts
 * finished ones. With `intervalMs`, message i starts no sooner than i × intervalMs after the first.
 */
export async function load(
  c: ClientOptions,
  prefix: string,
  count: number,
  concurrency: number,
  progress?: { done: number },
  intervalMs = 0,
): Promise<MessageRecord[]> {
  const out: MessageRecord[] = new Array(count);
  const t0 = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < count; i = next++) {
        const wait = t0 + i * intervalMs - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        out[i] = await sendWithRetries(c, i, `${prefix}-${i}`);
        if (progress) progress.done++;
      }
    }),
  );
  return out;
}

export interface Ledger {
  scenario: string;
  attempted: number;
  requests: number;
  /** Messages that ended with a 2xx. */
  accepted: number;
  /** Answers that were not 2xx, by code, retried ones included. */
  errors: Record<string, number>;
  /** The final answer of messages that never got a 2xx, by code. */
  gaveUp: Record<string, number>;
  /** Names that arrived at least once. */
  delivered: number;
  /** Arrivals beyond the first, over all names. */
  duplicates: number;
  /** Accepted (2xx) but never arrived. */
  lost: number;
  /** Messages whose answers include one that may have sent without saying so (OUTCOME_UNKNOWN, or no answer on an open connection). */
  uncertain: number;
  /** Arrivals that no answer explains: more copies than answers that may have sent (Direct), or an arrival with no 2xx and no lost answer (Queued). */
  unexplained: string[];
  /** Names whose copies went out under different Message-IDs. */
  messageIdChanged: string[];
  /** Queued: attempts the queue deferred during the run (postmaster_queue_deferrals_total over the replicas), when the scenario reads them. */
  queueDeferrals?: number;
}

const MAY_HAVE_SENT = (a: Answer) => is2xx(a) || unanswered(a) || a.code === 'POSTMASTER_UPSTREAM_OUTCOME_UNKNOWN' || a.code === 'POSTMASTER_INTERNAL';

/**
 * Holds the clients' records against the upstream's arrivals. `mode` says what a
 * 2xx means: Direct, the upstream took it (so each copy needs its own answer that
 * may have sent); Queued, the store took it (the queue may send again where a
 * replica died or an outcome was unknown: the scenario bounds that).
 */
export function ledger(scenario: string, mode: 'Direct' | 'Queued', records: MessageRecord[], sink: CountingSink): Ledger {
  const errors: Record<string, number> = {};
  const gaveUp: Record<string, number> = {};
  const ids = new Map<string, Set<string>>();
  for (const a of sink.arrivals) {
    if (!ids.has(a.name)) ids.set(a.name, new Set());
    ids.get(a.name)!.add(a.messageId);
  }
  const l: Ledger = {
    scenario,
    attempted: records.length,
    requests: 0,
    accepted: 0,
    errors,
    gaveUp,
    delivered: 0,
    duplicates: 0,
    lost: 0,
    uncertain: 0,
    unexplained: [],
    messageIdChanged: [],
  };
  for (const r of records) {
    l.requests += r.answers.length;
    for (const a of r.answers) if (!is2xx(a)) errors[a.code] = (errors[a.code] ?? 0) + 1;
    const ok = is2xx(r.final);
    if (ok) l.accepted++;
    else gaveUp[r.final.code] = (gaveUp[r.final.code] ?? 0) + 1;
    if (r.answers.some((a) => unanswered(a) || a.code === 'POSTMASTER_UPSTREAM_OUTCOME_UNKNOWN')) l.uncertain++;
    const copies = sink.count(r.name);
    if (copies > 0) l.delivered++;
    if (copies > 1) l.duplicates += copies - 1;
    if (ok && copies === 0) l.lost++;
    const explains = mode === 'Direct' ? r.answers.filter(MAY_HAVE_SENT).length : r.answers.some(MAY_HAVE_SENT) ? Number.POSITIVE_INFINITY : 0;
    if (copies > explains) l.unexplained.push(r.name);
    if ((ids.get(r.name)?.size ?? 0) > 1) l.messageIdChanged.push(r.name);
  }
  return l;
}

/** One line per scenario for the run's output (and the report). */
export function printLedger(l: Ledger): void {
  const codes = (o: Record<string, number>) => Object.entries(o).map(([k, v]) => `${k.replace('POSTMASTER_', '')}=${v}`).join(' ') || '-';
  console.log(
    `[ledger] ${l.scenario}: attempted=${l.attempted} requests=${l.requests} 2xx=${l.accepted} delivered=${l.delivered} ` +
      `duplicates=${l.duplicates} lost=${l.lost} uncertain=${l.uncertain} unexplained=${l.unexplained.length} ` +
      `messageIdChanged=${l.messageIdChanged.length}${l.queueDeferrals === undefined ? '' : ` queueDeferrals=${l.queueDeferrals}`} | errors: ${codes(l.errors)} | gave up: ${codes(l.gaveUp)}`,
  );
}

/** The queue's deferred attempts so far, over these replicas (a killed one's are gone with it). */
export async function queueDeferrals(ops: Operator[], reason?: string): Promise<number> {
  const live = ops.filter((op) => op.process.exitCode === null && op.process.signalCode === null);
  const counts = await Promise.all(live.map((op) => op.metric('postmaster_queue_deferrals_total', reason ? { reason } : {})));
  return counts.reduce((a, b) => a + b, 0);
}

/** Polls until `check` is true or the time is up; returns whether it became true. */
export async function until(check: () => boolean, timeoutMs: number, intervalMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return true;
}
