/** Exponential backoff with full jitter and a cap. */
export class Backoff {
  private attempt = 0;
  private readonly baseMs: number;
  private readonly capMs: number;

  constructor(baseMs: number, capMs: number) {
    this.baseMs = baseMs;
    this.capMs = capMs;
  }

  next(): number {
    const ceiling = Math.min(this.capMs, this.baseMs * 2 ** this.attempt);
    this.attempt++;
    // Half fixed, half random: spreads retries without ever retrying at once.
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  reset(): void {
    this.attempt = 0;
  }
}

/** `ms` spread by ±fraction, so periodic work of many objects does not line up. */
export function jitter(ms: number, fraction = 0.1): number {
  return Math.round(ms * (1 - fraction + Math.random() * 2 * fraction));
}

/** Go-style duration ("1h30m", "10m", "45s", "500ms") in milliseconds. */
export function parseDuration(text: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let consumed = 0;
  for (const m of text.matchAll(re)) {
    total += Number(m[1]) * unit[m[2]!]!;
    consumed += m[0].length;
  }
  if (consumed !== text.length || consumed === 0) throw new Error(`invalid duration "${text}"`);
  return total;
}
