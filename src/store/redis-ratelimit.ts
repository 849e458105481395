// The token buckets of memory-ratelimit.ts, in Redis: one Lua script takes a token
// from every bucket of a message or from none, atomically, on the server's clock,
// so N replicas admit the configured rate together (no read-then-write races).
// While Redis is unreachable the limits fall back to this replica's memory.
import type { Redis } from 'ioredis';
import { MemoryRateLimits } from './memory-ratelimit.ts';
import type { LimitRequest, RateLimits, TakeResult } from './types.ts';

// KEYS: the buckets; ARGV: perMinute and burst of each. Returns {0} when taken, or
// {index, wait seconds} of the bucket that waits longest.
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tokens = {}
local worst, worstWait = 0, -1
for i = 1, #KEYS do
  local pm, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local v = redis.call('HMGET', KEYS[i], 'tokens', 'at')
  local have, at = tonumber(v[1]), tonumber(v[2])
  if not have then have, at = burst, now end
  have = math.min(burst, have + (now - at) / 60000 * pm)
  tokens[i] = have
  if have < 1 then
    local wait = (1 - have) * 60 / pm
    if wait > worstWait then worst, worstWait = i, wait end
  end
end
if worst > 0 then return {worst, tostring(worstWait)} end
for i = 1, #KEYS do
  local pm, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  redis.call('HSET', KEYS[i], 'tokens', tostring(tokens[i] - 1), 'at', tostring(now))
  -- A bucket left alone refills to burst: then it is the same as no bucket.
  redis.call('PEXPIRE', KEYS[i], math.ceil(burst * 60000 / pm) + 1000)
end
return {0}
`;

export class RedisRateLimits implements RateLimits {
  readonly #redis: Redis;
  readonly #fallback = new MemoryRateLimits();
  readonly #onUnavailable: (err: unknown) => void;

  constructor(redis: Redis, opts: { onUnavailable?: (err: unknown) => void } = {}) {
    this.#redis = redis;
    this.#onUnavailable = opts.onUnavailable ?? (() => {});
  }

  async take(requests: LimitRequest[]): Promise<TakeResult> {
    const limited = requests.filter((r) => r.limit);
    if (limited.length === 0) return { ok: true };
    const keys = limited.map((r) => `postmaster:ratelimit:${r.key}`);
    const args = limited.flatMap((r) => [String(r.limit!.messagesPerMinute), String(r.limit!.burst ?? r.limit!.messagesPerMinute)]);
    let reply: [number, string?];
    try {
      reply = (await this.#redis.eval(TAKE, keys.length, ...keys, ...args)) as [number, string?];
    } catch (err) {
      this.#onUnavailable(err);
      return this.#fallback.takeNow(requests);
    }
    if (reply[0] === 0) return { ok: true };
    const wait = Number(reply[1]);
    return { ok: false, what: limited[reply[0] - 1]!.what, retryAfterSeconds: Math.max(1, Math.ceil(wait)) };
  }
}
