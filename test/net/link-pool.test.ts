/**
 * The pool of outgoing peer links, as pure rules with the time passed in: one link per address
 * shared by its requests; a cap that closes the least recently used idle link to make room, and
 * makes requests wait in line (bounded) when every link is busy; idle links closed after the
 * timeout; releases of a link that left the pool change nothing.
 */
import t from 'tap';
import { type LinkGrant, LinkPool, type LinkPoolLimits } from '../../src/net/link-pool.js';

const pool = (over: Partial<LinkPoolLimits> = {}) => new LinkPool<string>({ maxLinks: 2, idleTimeoutMs: 1000, maxWaiting: 3, ...over });

/** What a grant says, in short: "use a", "open a", "open c, closing a". */
function said(grant: LinkGrant | undefined): string {
  if (!grant) return 'wait';
  if (grant.kind === 'use') return `use ${grant.slot.addr}`;
  return grant.evicted ? `open ${grant.slot.addr}, closing ${grant.evicted.addr}` : `open ${grant.slot.addr}`;
}

t.test('one link per address, shared by its requests; busy while any request is on it', async (t) => {
  const p = pool();
  const first = p.acquire('a', 0) as LinkGrant;
  t.equal(said(first), 'open a');
  const second = p.acquire('a', 1);
  t.equal(said(second), 'use a', 'a second request to a shares its link');
  t.equal(first.slot, second?.slot);
  t.equal(p.size, 1);
  t.equal(first.slot.inFlight, 2);
  t.notOk(p.release(first.slot), 'nobody waits: nothing to grant');
  t.equal(first.slot.inFlight, 1);
  t.same(p.takeIdle(5000), [], 'a link with a request on it is never idle, however long');
  p.release(first.slot);
  t.same(p.takeIdle(5500), [], 'busy at the last look (5000), used since: counted as used at this look (5500)');
  t.same(p.takeIdle(6499), [], 'not used since, for 999 ms: kept');
  t.same(
    p.takeIdle(6500).map((s) => s.addr),
    ['a'],
    'not used since a look the timeout ago: closed',
  );
  t.equal(p.size, 0);
  t.equal(said(p.acquire('a', 7000)), 'open a', 'the next request makes a new link');
});

t.test('a link made and never used again is closed the timeout after it was made', async (t) => {
  const p = pool();
  const a = p.acquire('a', 100) as LinkGrant;
  p.release(a.slot);
  // The request that made it ended before any look: still the making counts as its last use.
  t.same(p.takeIdle(600), [], 'used since it was made: counted as used at this look');
  t.same(
    p.takeIdle(1600).map((s) => s.addr),
    ['a'],
  );
});

t.test('at the cap, the least recently used idle link is closed to make room', async (t) => {
  const p = pool({ maxLinks: 3 });
  const a = p.acquire('a', 0) as LinkGrant;
  const b = p.acquire('b', 0) as LinkGrant;
  const c = p.acquire('c', 0) as LinkGrant;
  p.release(a.slot);
  p.release(c.slot);
  p.release(b.slot);
  // Used again after c and b: a is now the most recently used.
  p.release((p.acquire('a', 40) as LinkGrant).slot);
  t.equal(said(p.acquire('d', 60)), 'open d, closing c', 'c was used least recently');
  t.equal(said(p.acquire('e', 70)), 'open e, closing b');
  t.equal(p.size, 3, 'never more than the cap');
  t.ok(c.slot.closed, 'the closed link is marked');
  t.notOk(p.release(c.slot), 'a late release of a closed link changes nothing');
  t.equal(p.slotOf('c'), undefined);
});

t.test('a busy link is never closed to make room: with every link busy, requests wait in line, bounded', async (t) => {
  const p = pool();
  const a = p.acquire('a', 0) as LinkGrant;
  const b = p.acquire('b', 0) as LinkGrant;
  t.equal(said(p.acquire('c', 1)), 'wait', 'both links busy');
  t.ok(p.wait('w1', 'c'));
  t.ok(p.wait('w2', 'd'));
  t.ok(p.wait('w3', 'c'));
  t.notOk(p.wait('w4', 'e'), 'the line is full: refused at once');
  t.equal(p.waiting, 3);
  t.equal(said(p.acquire('a', 2)), 'use a', 'a request to an address with a link never waits');
  t.equal(said(p.acquire('f', 2)), 'wait');
  // a still has one request in flight: not idle yet, nothing to grant.
  t.notOk(p.release(a.slot));
  t.ok(p.release(a.slot), 'a is idle now and requests wait: grant');
  const granted = p.grant(5);
  t.same(
    granted.map(([w, g]) => `${w}: ${said(g)}`),
    ['w1: open c, closing a', 'w3: use c'],
    'the first in line takes the place; the other request for c shares its new link; d still waits',
  );
  t.equal(p.waiting, 1);
  t.equal(p.size, 2);
  t.ok(p.remove(b.slot), 'b ended (closed by its peer) and a request waits');
  t.same(
    p.grant(6).map(([w, g]) => `${w}: ${said(g)}`),
    ['w2: open d'],
    'its place goes to the next in line, without closing anything',
  );
  t.equal(p.waiting, 0);
});

t.test('a request for a new place does not jump the line, even when room frees before the line is served', async (t) => {
  const p = pool({ maxLinks: 1 });
  const a = p.acquire('a', 0) as LinkGrant;
  t.ok(p.wait('w1', 'b'));
  // The link ends; before the caller hands out the place, a new request comes for another address.
  p.remove(a.slot);
  t.equal(said(p.acquire('c', 1)), 'wait', 'it waits behind w1');
  t.same(
    p.grant(2).map(([w, g]) => `${w}: ${said(g)}`),
    ['w1: open b'],
  );
});

t.test('a waiter that gives up leaves the line; the line empties when the pool closes', async (t) => {
  const p = pool({ maxLinks: 1 });
  const a = p.acquire('a', 0) as LinkGrant;
  p.wait('w1', 'b');
  p.wait('w2', 'c');
  p.cancel('w1');
  t.equal(p.waiting, 1);
  p.release(a.slot);
  t.same(
    p.grant(1).map(([w]) => w),
    ['w2'],
    'the one who gave up is not granted',
  );
  p.wait('w3', 'd');
  t.same(p.takeWaiting(), ['w3']);
  t.equal(p.waiting, 0);
});

t.test('idle timeout 0: links are never closed for being idle, only to make room', async (t) => {
  const p = pool({ idleTimeoutMs: 0, maxLinks: 1 });
  const a = p.acquire('a', 0) as LinkGrant;
  p.release(a.slot);
  t.same(p.takeIdle(Number.MAX_SAFE_INTEGER), []);
  t.equal(said(p.acquire('b', 10)), 'open b, closing a');
});

t.test('idle links are closed together, busy and recently used ones kept', async (t) => {
  const p = pool({ maxLinks: 4 });
  const grants = ['a', 'b', 'c', 'd'].map((addr) => p.acquire(addr, 0) as LinkGrant);
  const [a, b, c] = grants as [LinkGrant, LinkGrant, LinkGrant, LinkGrant];
  p.release(a.slot);
  p.release(b.slot);
  p.release(c.slot);
  t.same(p.takeIdle(100), [], 'each used since its making');
  // b is used again before the next look; d keeps its request in flight throughout.
  p.release((p.acquire('b', 500) as LinkGrant).slot);
  t.same(p.takeIdle(600), []);
  t.same(
    p
      .takeIdle(1100)
      .map((s) => s.addr)
      .sort(),
    ['a', 'c'],
    'unused since the look at 100',
  );
  t.same(
    p.takeIdle(1600).map((s) => s.addr),
    ['b'],
    'unused since the look at 600',
  );
  t.same(p.takeIdle(10_000), []);
  t.equal(p.size, 1, 'd, busy, stays');
  t.ok(a.slot.closed && b.slot.closed && c.slot.closed);
});

t.test('links used within the same millisecond are still closed least recently used first', async (t) => {
  const p = pool({ maxLinks: 2 });
  const a = p.acquire('a', 5) as LinkGrant;
  const b = p.acquire('b', 5) as LinkGrant;
  p.release(b.slot);
  p.release(a.slot);
  t.equal(said(p.acquire('c', 5)), 'open c, closing b', 'b ended before a, at the same time');
});
