// DeliveryReady: whether the send endpoint can keep an EmailServer's delivery
// promise. Direct needs nothing more; Queued needs the durable store (the operator
// started with --redis-url) and that store answering. Its message says what
// durability the store's settings give, as far as the store lets us read them.
import type { StoreStatus } from '../store/types.ts';
import { failed, ok, type Observation } from './conditions.ts';

export const DELIVERY_READY = 'DeliveryReady';

export const DeliveryReason = {
  Direct: 'Direct',
  Queued: 'Queued',
  NoDurableStore: 'NoDurableStore',
  StoreUnavailable: 'StoreUnavailable',
} as const;

export function deliveryObservation(mode: 'Direct' | 'Queued', store: StoreStatus | undefined): Observation {
  if (mode === 'Direct') {
    return ok(DELIVERY_READY, DeliveryReason.Direct, 'Direct: the send endpoint answers once the upstream accepted each message.');
  }
  if (!store || store.store === 'memory') {
    return failed(
      DELIVERY_READY,
      DeliveryReason.NoDurableStore,
      'spec.delivery.mode is Queued, but the operator runs without a durable store: start it with --redis-url ' +
        '(Helm value store.redis.url). Until then Queued sends are refused with 503 POSTMASTER_QUEUE_UNAVAILABLE.',
    );
  }
  if (!store.up) {
    // Reported, not gating Ready: each replica's doors judge the store by their own
    // connection (503 while it is away), and a blip of the store should not flip
    // every Queued identity of the cluster to not Ready and back.
    return {
      ...failed(
        DELIVERY_READY,
        DeliveryReason.StoreUnavailable,
        `The store is unreachable: ${store.description}. Queued sends are refused with 503 until it answers; queued messages wait in it.`,
      ),
      severity: 'info',
    };
  }
  const durability =
    store.appendonly === 'no'
      ? ' It keeps no append-only file: a restart of the store loses queued messages.'
      : store.appendfsync === 'everysec'
        ? ' A power loss of its host can lose up to the last second of accepted messages.'
        : '';
  return ok(DELIVERY_READY, DeliveryReason.Queued, `Queued in ${store.description}.${durability}`);
}
