// Registers, for the calling test file, a check that it left no socket,
// listener or timer of its own behind. Call it before any other hook: vitest
// runs afterAll hooks in reverse order, so this one runs after every cleanup.
import { afterAll, beforeAll, expect } from 'vitest';
import { handleCounts, settledResources, trackResources, type HandleCounts, type ResourceTracker } from './smtp-sockets.ts';

export function expectNoLeaks(graceMs = 6_000): void {
  let baseline: HandleCounts;
  let tracker: ResourceTracker;
  beforeAll(() => {
    baseline = handleCounts();
    tracker = trackResources();
  });
  afterAll(async () => {
    // Keep-alive sockets of fetch() close on their own within a few seconds: that is the grace.
    const left = await settledResources(baseline, tracker, graceMs);
    tracker.stop();
    expect(left).toEqual({ handles: baseline, alive: [] });
  }, graceMs + 5_000);
}
