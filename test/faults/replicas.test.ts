// One of two replicas stopped mid-load, by SIGTERM (a rolling update) and by
// SIGKILL (a lost node), without a store (Direct, each replica on its own) and
// with the shared store (Direct with shared Idempotency-Keys, and Queued).
// Clients retry on the other replica with the same Idempotency-Key. A SIGTERM
// sends nothing twice; a SIGKILL may send what was in flight again, and the
// ledger counts and bounds it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apply, resource } from '../support/manifests.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { startReplicas, type Replicas } from '../support/replicas.ts';
import { eventually, getCondition } from '../support/wait.ts';
import { ledger, load, printLedger, startCountingSink, until, type CountingSink, type MessageRecord } from '../support/fault-ledger.ts';
import { sendAs } from '../support/fault-setup.ts';

const MESSAGES = Number(process.env.FAULT_MESSAGES ?? 600);
const CONCURRENCY = 16;
/** Queue workers per replica (the operator's default): what a killed replica can hold mid-send. */
const WORKERS = 16;

let sink: CountingSink;
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

beforeAll(async () => {
  // Slow enough that messages are in flight on both replicas when one goes.
  sink = await startCountingSink({ dataDelayMs: 50 });
});
afterAll(async () => sink?.kill());

async function replicasFor(prefix: string, mode: 'Direct' | 'Queued', redis?: RedisServer): Promise<Replicas> {
  const r = await startReplicas({ prefix, count: 2, identities: ['app'], ...(redis ? { redis } : {}) });
  await apply(
    r.ns,
    resource('SmtpTarget', 'relay', { host: '127.0.0.1', port: sink.port, security: 'None' }),
    resource('EmailServer', 'relay', { provider: 'SMTP', smtp: { targetRef: { name: 'relay' } }, delivery: { mode, expireAfter: '1h' } }),
    resource('SenderIdentity', 'app', { email: 'app@example.com', serverRef: { name: 'relay' } }),
  );
  await eventually(async () => expect(await getCondition('senderidentity', r.ns, 'app', 'Ready')).toMatchObject({ status: 'True' }), 60_000);
  return r;
}

/** Runs the load and stops replica 0 with `signal` once a third of the messages are answered. */
async function stopOneMidLoad(r: Replicas, prefix: string, signal: 'SIGTERM' | 'SIGKILL'): Promise<{ records: MessageRecord[]; exit: number | null }> {
  const progress = { done: 0 };
  const c = sendAs(r, 'app');
  const stopping = (async () => {
    await until(() => progress.done >= MESSAGES / 3, 120_000, 20);
    return r.ops[0]!.stop(signal);
  })();
  const records = await load(c, prefix, MESSAGES, CONCURRENCY, progress);
  return { records, exit: await stopping };
}

async function drained(records: MessageRecord[]): Promise<void> {
  const accepted = records.filter((m) => m.final.status === 202);
  await until(() => accepted.every((m) => sink.count(m.name) > 0), 120_000, 250);
  await sleep(1500);
}

/**
 * Direct mode: without a store each replica keeps its own Idempotency-Key records; with the
 * shared store a retry on the other replica waits out the dead one's claim. Either way a
 * SIGTERM sends nothing twice, and a SIGKILL may resend only what the dead replica held unanswered.
 */
function directScenario(title: string, prefix: string, label: string, withStore: boolean): void {
  describe(title, () => {
    let redis: RedisServer | undefined;
    let r: Replicas;
    beforeAll(async () => {
      if (withStore) redis = await startRedis();
      r = await replicasFor(prefix, 'Direct', redis);
    }, 120_000);
    afterAll(async () => {
      await r?.stop();
      await redis?.destroy();
    });

    it('SIGTERM of one replica mid-load: it finishes what it holds, the rest goes to the other, nothing lost or sent twice', async () => {
      const { records, exit } = await stopOneMidLoad(r, `${prefix}-sigterm`, 'SIGTERM');
      const l = ledger(`${label}, replica SIGTERMed`, 'Direct', records, sink);
      printLedger(l);
      expect(exit).toBe(0);
      expect(l.accepted).toBe(MESSAGES);
      expect(l.lost).toBe(0);
      expect(l.duplicates).toBe(0);
      expect(l.unexplained).toEqual([]);
      await r.replace(0);
    });

    it('SIGKILL of one replica mid-load: nothing a 2xx answered is lost; only requests it held unanswered may arrive twice, under one Message-ID', async () => {
      const { records } = await stopOneMidLoad(r, `${prefix}-sigkill`, 'SIGKILL');
      const l = ledger(`${label}, replica SIGKILLed`, 'Direct', records, sink);
      printLedger(l);
      expect(l.accepted).toBe(MESSAGES);
      expect(l.lost).toBe(0);
      expect(l.unexplained).toEqual([]);
      // Only what the killed replica held when it died, and the client never heard back about.
      expect(l.duplicates).toBeLessThanOrEqual(l.uncertain);
      expect(l.uncertain).toBeLessThanOrEqual(CONCURRENCY);
      expect(l.messageIdChanged).toEqual([]);
    });
  });
}

directScenario('without a store: Direct, each replica on its own', 'faults-direct', 'direct without store', false);
directScenario('with the shared store: Direct, one Idempotency-Key record for both replicas', 'faults-direct-store', 'direct with store', true);

describe('with the shared store: Queued', () => {
  let redis: RedisServer;
  let r: Replicas;
  beforeAll(async () => {
    redis = await startRedis();
    r = await replicasFor('faults-queued', 'Queued', redis);
  }, 120_000);
  afterAll(async () => {
    await r?.stop();
    await redis?.destroy();
  });

  it('SIGTERM of one replica mid-load: every stored message is delivered, none twice', async () => {
    const { records, exit } = await stopOneMidLoad(r, 'queued-sigterm', 'SIGTERM');
    await drained(records);
    const l = ledger('queued with store, replica SIGTERMed', 'Queued', records, sink);
    printLedger(l);
    expect(exit).toBe(0);
    expect(l.accepted).toBe(MESSAGES);
    expect(l.lost).toBe(0);
    expect(l.duplicates).toBe(0);
    expect(l.unexplained).toEqual([]);
    await r.replace(0);
  });

  it('SIGKILL of one replica mid-load: every stored message is delivered; duplicates only from what the dead one held', async () => {
    const { records } = await stopOneMidLoad(r, 'queued-sigkill', 'SIGKILL');
    await drained(records);
    const l = ledger('queued with store, replica SIGKILLed', 'Queued', records, sink);
    printLedger(l);
    expect(l.accepted).toBe(MESSAGES);
    expect(l.lost).toBe(0);
    expect(l.unexplained).toEqual([]);
    // Its workers' messages mid-send, and the requests it had taken but not answered.
    expect(l.duplicates).toBeLessThanOrEqual(WORKERS + l.uncertain);
    expect(l.messageIdChanged).toEqual([]);
  });
});
