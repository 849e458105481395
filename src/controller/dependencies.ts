// Which objects each reconcile read, indexed backwards: from a Secret (or
// server, target, namespace) to the queue keys of everything that uses it.
export class Dependencies {
  private readonly byRef = new Map<string, Set<string>>();
  private readonly byDependent = new Map<string, Set<string>>();

  /** Replaces what `dependent` (a queue key) depends on. */
  set(dependent: string, refs: Iterable<string>): void {
    this.delete(dependent);
    const set = new Set(refs);
    this.byDependent.set(dependent, set);
    for (const ref of set) {
      let users = this.byRef.get(ref);
      if (!users) this.byRef.set(ref, (users = new Set()));
      users.add(dependent);
    }
  }

  /** Adds to what `dependent` depends on, keeping what it had. */
  add(dependent: string, refs: Iterable<string>): void {
    this.set(dependent, [...(this.byDependent.get(dependent) ?? []), ...refs]);
  }

  delete(dependent: string): void {
    for (const ref of this.byDependent.get(dependent) ?? []) {
      const users = this.byRef.get(ref);
      users?.delete(dependent);
      if (users?.size === 0) this.byRef.delete(ref);
    }
    this.byDependent.delete(dependent);
  }

  dependents(ref: string): string[] {
    return [...(this.byRef.get(ref) ?? [])];
  }

  get size(): number {
    return this.byDependent.size;
  }
}
