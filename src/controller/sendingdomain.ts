// SendingDomain: its keys load (or are generated once into a Secret it owns),
// DNS publishes the record for each, and Ready says so. DMARC is reported, not required.
import type { DkimRecord, SendingDomain, SendingDomainStatus } from '../api/index.ts';
import { parseDuration } from '../kube/backoff.ts';
import { checkDkimRecord, checkDmarc, DnsReason, type TxtLookup } from '../providers/dkim/dns.ts';
import { generatePrivateKey, parsePrivateKey, txtStrings } from '../providers/dkim/keys.ts';
import { keySecret, keySources, resolveKey, type ResolvedKey } from '../routing/signing.ts';
import { refKey, type Secret } from '../routing/world.ts';
import { failed, ok, summarize, unknown, type Observation } from './conditions.ts';
import type { ReconcileContext, ReconcileOutput } from './smtptarget.ts';

export const KEY_READY = 'KeyReady';
export const DNS_PUBLISHED = 'DnsPublished';
export const DMARC_PUBLISHED = 'DmarcPublished';

export const DomainReason = {
  KeyLoaded: 'KeyLoaded',
  KeyGenerated: 'KeyGenerated',
  KeyNotReady: 'KeyNotReady',
  SecretBeingCreated: 'SecretBeingCreated',
} as const;

/** While DNS does not serve the record yet, look again this often. */
const UNPUBLISHED_RECHECK_MS = 60_000;

export interface SendingDomainDeps {
  dns: TxtLookup;
  /** Creates the Secret of a generated key; false when it already exists (it is never overwritten). */
  createSecret(secret: Secret): Promise<boolean>;
}

export async function reconcileSendingDomain(
  sd: SendingDomain,
  ctx: ReconcileContext,
  deps: SendingDomainDeps,
): Promise<ReconcileOutput<SendingDomainStatus>> {
  const { metadata: meta, spec } = sd;
  const ns = meta.namespace;
  const interval = parseDuration(spec.checkInterval ?? '10m');
  const refs = [refKey.namespace(ns)];
  const events: NonNullable<ReconcileOutput<unknown>['events']> = [];
  const records: Required<DkimRecord>[] = [];
  const keyProblems: Observation[] = [];
  const loaded: string[] = [];

  for (const source of keySources(sd)) {
    const where = keySecret(source);
    refs.push(refKey.secret(ns, where.name));
    let key: ResolvedKey = resolveKey(ctx.world, ns, source);
    let generatedNow = false;
    if (!key.ok && key.missing && source.generate) {
      const pem = generatePrivateKey(source.generate.algorithm ?? 'RSA-2048');
      const secret = generatedSecret(sd, where.name, pem);
      if (await deps.createSecret(secret)) {
        key = resolveKey(ctx.world, ns, source, secret);
        generatedNow = true;
        events.push({
          type: 'Normal',
          reason: DomainReason.KeyGenerated,
          message: `Generated a ${source.generate.algorithm ?? 'RSA-2048'} key for selector "${source.selector}" into Secret "${ns}/${where.name}".`,
        });
      } else {
        keyProblems.push(
          failed(KEY_READY, DomainReason.SecretBeingCreated, `Secret "${ns}/${where.name}" exists but is not in the cache yet; its key is used, never replaced.`, 'transient'),
        );
        continue;
      }
    }
    if (!key.ok) {
      keyProblems.push(failed(KEY_READY, key.reason, `${key.message} ${hint(source.generate ? 'generate' : 'ref')}`));
      continue;
    }
    const owned = generatedNow || ownedBy(ctx.world.secret(ns, where.name), sd);
    loaded.push(
      `selector "${source.selector}": ${key.key.algorithm === 'ed25519-sha256' ? 'Ed25519' : `RSA-${key.key.bits}`} from Secret "${ns}/${where.name}"${owned ? ' (generated)' : ''}`,
    );
    records.push({
      selector: source.selector,
      algorithm: key.key.algorithm,
      keyBits: key.key.bits,
      secretName: where.name,
      name: `${source.selector}._domainkey.${spec.domain}`,
      type: 'TXT',
      value: key.key.record,
      strings: txtStrings(key.key.record),
      published: false,
    });
  }

  const observations: Observation[] = [];
  const generatedAll = sd.spec.dkim.generate && records.length > 0 && ownedBy(ctx.world.secret(ns, records[0]!.secretName), sd);
  observations.push(
    keyProblems[0] ??
      ok(KEY_READY, events.length || generatedAll ? DomainReason.KeyGenerated : DomainReason.KeyLoaded, `Signing keys loaded: ${loaded.join('; ')}.`),
  );

  // DNS: every key's record must be served as status shows it.
  if (keyProblems.length === 0) {
    let dnsProblem: Observation | undefined;
    for (const record of records) {
      const result = await checkDkimRecord(deps.dns, record.name, publicKeyOf(record.value), record.algorithm === 'ed25519-sha256' ? 'ed25519' : 'rsa');
      record.published = result.ok;
      if (!result.ok && !dnsProblem) dnsProblem = failed(DNS_PUBLISHED, result.reason, result.message, result.transient ? 'transient' : 'waiting');
    }
    observations.push(dnsProblem ?? ok(DNS_PUBLISHED, DnsReason.RecordPublished, `DNS serves ${records.map((r) => r.name).join(' and ')} with the key in use.`));
  } else {
    observations.push(unknown(DNS_PUBLISHED, DomainReason.KeyNotReady, 'Not checked until the key loads.'));
  }

  const status: SendingDomainStatus = { observedGeneration: meta.generation ?? 0, conditions: [], checkedAt: ctx.now.toISOString().replace(/\.\d+Z$/, 'Z') };
  if (records.length) status.dkim = records;
  const dmarc = await checkDmarc(deps.dns, spec.domain);
  if (dmarc.ok && dmarc.facts) {
    status.dmarc = dmarc.facts;
    observations.push(ok(DMARC_PUBLISHED, dmarc.reason, dmarc.message));
  } else {
    observations.push(dmarc.transient ? unknown(DMARC_PUBLISHED, dmarc.reason, dmarc.message) : failed(DMARC_PUBLISHED, dmarc.reason, dmarc.message));
    // Reported only: a missing DMARC record never holds Ready back.
    observations[observations.length - 1]!.severity = 'info';
  }

  const selectors = records.map((r) => `"${r.selector}"`).join(' and ');
  status.conditions = summarize(sd.status?.conditions ?? [], observations, `Signing mail from ${spec.domain}${spec.includeSubdomains ? ' and its subdomains' : ''} with selector ${selectors}.`, meta.generation ?? 0, ctx.now);
  const published = observations.find((o) => o.type === DNS_PUBLISHED)?.status === 'True';
  return {
    status,
    requeueAfterMs: published || keyProblems.length ? interval : Math.min(interval, UNPUBLISHED_RECHECK_MS),
    retry: observations.some((o) => o.severity === 'transient'),
    refs,
    events,
  };
}

function hint(kind: 'generate' | 'ref'): string {
  return kind === 'generate'
    ? 'Delete the Secret, or name another in generate.secretName, to have a new key generated.'
    : 'Create it with the PEM private key (openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048), or use generate.';
}

function publicKeyOf(record: string): string {
  return /(?:^|;)\s*p=([^;]*)/.exec(record)?.[1]?.trim() ?? '';
}

function ownedBy(secret: Secret | undefined, sd: SendingDomain): boolean {
  return !!secret?.metadata.ownerReferences?.some((o) => o.uid === sd.metadata.uid && o.controller);
}

function generatedSecret(sd: SendingDomain, name: string, pem: string): Secret {
  // Parsed once here so the Secret is never written with a key we could not use.
  if (!parsePrivateKey(pem, 'generated key').ok) throw new Error('the generated DKIM key could not be read back');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {
      name,
      namespace: sd.metadata.namespace,
      labels: { 'app.kubernetes.io/managed-by': 'postmaster', 'email.postmaster.dev/sending-domain': sd.metadata.name },
      ownerReferences: [{ apiVersion: sd.apiVersion, kind: 'SendingDomain', name: sd.metadata.name, uid: sd.metadata.uid!, controller: true }],
    },
    data: { 'private.key': Buffer.from(pem).toString('base64') },
  } as Secret;
}
