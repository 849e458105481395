// Who uses a server is counted among the identities that could resolve to it
// (those naming it and those naming none): the index must follow every add,
// move and delete the informer reports, or status.usage and in-use protection
// would miss a user or keep a gone one.
import { describe, expect, it } from 'vitest';
import type { SenderIdentity } from '../../../src/api/index.ts';
import type { InformerEvent, InformerHandler } from '../../../src/kube/informer.ts';
import { IdentityIndex } from '../../../src/routing/identity-index.ts';
import { serverUsers } from '../../../src/routing/usage.ts';
import { emailServer, MemoryWorld, senderIdentity } from '../../support/memory-world.ts';

/** What the index reads of an informer: its change events and its cache. */
class Events {
  readonly objects = new Map<string, SenderIdentity>();
  private handler: InformerHandler<SenderIdentity> | undefined;
  onChange(h: InformerHandler<SenderIdentity>) {
    this.handler = h;
  }
  get(ns: string, name: string) {
    return this.objects.get(`${ns}/${name}`);
  }
  emit(event: InformerEvent, obj: SenderIdentity) {
    const key = `${obj.metadata.namespace}/${obj.metadata.name}`;
    const old = this.objects.get(key);
    if (event === 'delete') this.objects.delete(key);
    else this.objects.set(key, obj);
    this.handler?.(event, obj, event === 'update' ? old : undefined);
  }
}

const names = (list: SenderIdentity[]) => list.map((i) => `${i.metadata.namespace}/${i.metadata.name}`).sort();

describe('IdentityIndex', () => {
  it('finds identities naming the server (its namespace by default) and those naming none', () => {
    const events = new Events();
    const index = new IdentityIndex(events as never);
    events.emit('add', senderIdentity('team', 'named', { serverRef: { name: 'relay' } }));
    events.emit('add', senderIdentity('other', 'across', { serverRef: { name: 'relay', namespace: 'team' } }));
    events.emit('add', senderIdentity('other', 'local', { serverRef: { name: 'relay' } }));
    events.emit('add', senderIdentity('team', 'default'));
    expect(names(index.candidates('team', 'relay'))).toEqual(['other/across', 'team/default', 'team/named']);
    expect(names(index.candidates('other', 'relay'))).toEqual(['other/local', 'team/default']);
    expect(names(index.candidates('team', 'unknown'))).toEqual(['team/default']);
  });

  it('follows an identity that moves to another server or to the default, and forgets deleted ones', () => {
    const events = new Events();
    const index = new IdentityIndex(events as never);
    events.emit('add', senderIdentity('team', 'app', { serverRef: { name: 'a' } }));
    events.emit('update', senderIdentity('team', 'app', { serverRef: { name: 'b' } }));
    expect(names(index.candidates('team', 'a'))).toEqual([]);
    expect(names(index.candidates('team', 'b'))).toEqual(['team/app']);
    events.emit('update', senderIdentity('team', 'app'));
    expect(names(index.candidates('team', 'b'))).toEqual(['team/app']);
    events.emit('update', senderIdentity('team', 'app', { serverRef: { name: 'a' } }));
    expect(names(index.candidates('team', 'b'))).toEqual([]);
    expect(names(index.candidates('team', 'a'))).toEqual(['team/app']);
    events.emit('add', senderIdentity('team', 'second', { serverRef: { name: 'a' } }));
    events.emit('delete', events.get('team', 'app')!);
    expect(names(index.candidates('team', 'a'))).toEqual(['team/second']);
    events.emit('add', senderIdentity('team', 'unnamed'));
    events.emit('delete', events.get('team', 'unnamed')!);
    events.emit('delete', events.get('team', 'second')!);
    expect(index.candidates('team', 'a')).toEqual([]);
  });

  it('gives status.usage the same users as a scan of every identity', () => {
    const events = new Events();
    const index = new IdentityIndex(events as never);
    const w = new MemoryWorld();
    const server = emailServer('team', 'main', { default: true });
    w.add(server);
    for (const i of [
      senderIdentity('team', 'a'),
      senderIdentity('team', 'b', { serverRef: { name: 'main' } }),
      senderIdentity('team', 'c', { serverRef: { name: 'other' } }),
    ]) {
      w.add(i);
      events.emit('add', i);
    }
    const indexed = Object.assign(Object.create(w) as MemoryWorld, { senderIdentityCandidates: (ns: string, n: string) => index.candidates(ns, n) });
    expect(names(serverUsers(indexed, server))).toEqual(names(serverUsers(w, server)));
    expect(names(serverUsers(indexed, server))).toEqual(['team/a', 'team/b']);
  });
});
