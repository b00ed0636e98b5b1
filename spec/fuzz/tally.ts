/**
 * Tally: what the fuzzed server did with the cases, counted by outcome label
 * ("RESULT", "FAILURE PROTOCOL", "closed", "http 400", ...). Outcomes are
 * counted, never asserted one by one: a server may answer or close, and a
 * connection deadline may cut a slow case; what the specs assert is that the
 * server stays up and the canary keeps working.
 */
export class Tally {
  readonly counts = new Map<string, number>();
  cases = 0;
  connections = 0;
  /** Cases whose bytes were written after the server had already closed (they reached nobody). */
  unsent = 0;
  /** A sample of notable events (first few of each kind), for the report. */
  readonly notes = new Map<string, string>();

  add(label: string, n = 1): void {
    this.counts.set(label, (this.counts.get(label) ?? 0) + n);
  }

  note(kind: string, text: string): void {
    if (!this.notes.has(kind)) this.notes.set(kind, text.length > 600 ? `${text.slice(0, 597)}...` : text);
  }

  /** `label n, label n, ...`, most frequent first. */
  format(): string {
    return [...this.counts].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
  }
}
