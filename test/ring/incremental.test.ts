/**
 * A ring made from the previous one (withMembers) is the ring built from scratch, token for token,
 * through random joins, leaves and weight changes; its id names the membership whatever the path;
 * preference lists read lazily agree with the whole list, and the memo of arcs stays bounded.
 */
import t from 'tap';
import { SeededRandom } from '../../src/env/random.js';
import { nextStandIn, planReplicas } from '../../src/quorum/plan.js';
import { hashString, type PreferenceEntry, Ring, type RingMember, WALK_MEMO_ENTRIES } from '../../src/ring/index.js';
import { EMPTY_LAYOUT, memberTokens, nextLayout } from '../../src/ring/token-layout.js';

const WEIGHTS = [0.5, 1, 1, 1, 1.004, 2, 3];

/** The ring as the (token, owner) sequence a reference build gives: hash "name#i", sort by token then name. */
function referenceLayout(members: readonly RingMember[], vnodes: number): { tokens: number[]; owners: string[] } {
  const entries: [number, string][] = [];
  for (const m of members) {
    const count = Math.max(1, Math.round(vnodes * m.weight));
    for (let i = 0; i < count; i++) entries.push([hashString(`${m.name}#${i}`), m.name]);
  }
  entries.sort((x, y) => x[0] - y[0] || (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0));
  return { tokens: entries.map((e) => e[0]), owners: entries.map((e) => e[1]) };
}

function sameRing(a: Ring, b: Ring): string | undefined {
  const x = a.tokenOwners();
  const y = b.tokenOwners();
  if (x.tokens.length !== y.tokens.length) return `${x.tokens.length} tokens against ${y.tokens.length}`;
  for (let i = 0; i < x.tokens.length; i++) {
    if (x.tokens[i] !== y.tokens[i] || x.owners[i] !== y.owners[i]) return `token ${i}: ${x.tokens[i]}/${x.owners[i]} against ${y.tokens[i]}/${y.owners[i]}`;
  }
  if (JSON.stringify(a.members) !== JSON.stringify(b.members)) return 'members differ';
  if (a.id !== b.id) return `id ${a.id} against ${b.id}`;
  if (JSON.stringify([...a.vnodeCounts]) !== JSON.stringify([...b.vnodeCounts])) return 'vnode counts differ';
  return undefined;
}

/** One random change of the membership: joins, leaves and weight changes, one or several at once. */
function change(members: Map<string, number>, random: SeededRandom, nextName: () => string): void {
  const changes = random.int(4) === 0 ? 1 + random.int(12) : 1;
  for (let c = 0; c < changes; c++) {
    const names = [...members.keys()];
    const what = random.int(10);
    if (what < 4 || names.length < 2) members.set(nextName(), WEIGHTS[random.int(WEIGHTS.length)] as number);
    else if (what < 8) members.delete(names[random.int(names.length)] as string);
    else members.set(names[random.int(names.length)] as string, WEIGHTS[random.int(WEIGHTS.length)] as number);
  }
}

t.test('property: a ring made from the previous one equals a build from scratch, token for token', async (t) => {
  // Small rings through many changes, and two rings of 300 members at the default 64 vnodes.
  for (const [seed, initial, steps] of [
    [1, 5, 150],
    [2, 12, 150],
    [3, 1, 150],
    [4, 20, 150],
    [5, 8, 150],
    [6, 3, 150],
    [7, 300, 40],
    [8, 300, 40],
  ] as const) {
    const random = new SeededRandom(seed);
    const vnodes = initial >= 300 ? 64 : ([1, 4, 16, 64][seed % 4] as number);
    let serial = 0;
    const nextName = () => `n${seed}-${String(serial++).padStart(3, '0')}-${random.int(1000)}`;
    const members = new Map<string, number>();
    for (let i = 0; i < initial; i++) members.set(nextName(), 1);
    let ring = new Ring(
      [...members].map(([name, weight]) => ({ name, weight })),
      vnodes,
    );
    const problems: string[] = [];
    const ids = new Map<string, string>();
    for (let step = 0; step < steps && problems.length === 0; step++) {
      change(members, random, nextName);
      // The table lists members in no particular order.
      const listed = [...members].map(([name, weight]) => ({ name, weight })).sort(() => random.next() - 0.5);
      const next = ring.withMembers(listed);
      const scratch = new Ring(listed, vnodes);
      const differs = sameRing(next, scratch);
      if (differs) problems.push(`step ${step}: ${differs}`);
      if (step % 25 === 0) {
        const reference = referenceLayout(listed, vnodes);
        const got = next.tokenOwners();
        if (JSON.stringify([...got.tokens]) !== JSON.stringify(reference.tokens) || got.owners.join() !== reference.owners.join())
          problems.push(`step ${step}: differs from the reference build`);
      }
      const membership = [...next.members].map((m) => `${m.name}:${m.weight}`).join();
      const known = ids.get(next.id);
      if (known !== undefined && known !== membership) problems.push(`step ${step}: id ${next.id} names two memberships`);
      ids.set(next.id, membership);
      ring = next;
    }
    t.same(
      problems,
      [],
      `seed ${seed}, ${vnodes} vnodes per weight: ${steps} changes from ${initial} members, final size ${members.size}, ${ids.size} distinct memberships`,
    );
  }
});

t.test('the id names the membership: equal whatever the path and order, changed by any change', async (t) => {
  const base: RingMember[] = Array.from({ length: 30 }, (_, i) => ({ name: `m${i}`, weight: 1 + (i % 3) }));
  const scratch = new Ring(base);
  // Joined one by one in two different orders, and in one step.
  let forward = new Ring([]);
  for (let i = 1; i <= base.length; i++) forward = forward.withMembers(base.slice(0, i));
  let backward = new Ring([]);
  for (let i = base.length - 1; i >= 0; i--) backward = backward.withMembers(base.slice(i));
  t.equal(forward.id, scratch.id, 'joined one by one: same id');
  t.equal(backward.id, scratch.id, 'joined in the other order: same id');
  t.equal(sameRing(forward, scratch), undefined, 'and the same ring');
  // Through a detour: a member leaves and comes back, another changes weight and back.
  const detour = scratch
    .withMembers(base.filter((m) => m.name !== 'm7'))
    .withMembers(base.map((m) => (m.name === 'm3' ? { ...m, weight: 9 } : m)))
    .withMembers(base);
  t.equal(detour.id, scratch.id, 'after a leave, a rejoin and a weight change undone: same id');
  t.equal(sameRing(detour, scratch), undefined, 'and the same ring');
  t.equal(scratch.withMembers([...base].reverse()), scratch, 'the same membership in another order: the very same ring');
  const ids = new Set([
    scratch.id,
    scratch.withMembers(base.slice(1)).id,
    scratch.withMembers([...base, { name: 'extra', weight: 1 }]).id,
    scratch.withMembers(base.map((m, i) => (i === 0 ? { ...m, weight: m.weight + 0.001 } : m))).id,
    scratch.withMembers(base.map((m, i) => (i === 0 ? { ...m, name: 'renamed' } : m))).id,
  ]);
  t.equal(ids.size, 5, 'a leave, a join, a weight change (even one that keeps the vnode count) and a rename each change the id');
  t.ok(scratch.id.length < 40, `the id is short whatever the size: ${scratch.id}`);
  t.throws(() => new Ring([...base, base[0] as RingMember]), RangeError, 'a name given twice is refused');
  t.throws(() => scratch.withMembers([...base.slice(1), base[1] as RingMember]), RangeError, 'also when the size matches');
});

t.test('token layout merge: equal tokens are ordered by owner name, as a build from scratch orders them', async (t) => {
  type Layout = { tokens: Uint32Array; owners: Uint32Array; names: readonly (string | undefined)[] };
  const flatten = (layout: Layout) => Array.from(layout.tokens, (token, i) => `${token}${layout.names[layout.owners[i] as number]}`).join(' ');
  const sorted = (xs: number[]) => Uint32Array.from([...xs].sort((x, y) => x - y));
  // Crafted: ties across members and within one member.
  const first = nextLayout(
    EMPTY_LAYOUT,
    [],
    [
      { slot: 0, tokens: sorted([5, 9, 9, 20]) },
      { slot: 1, tokens: sorted([1, 9, 20]) },
    ],
    ['b', 'd'],
  );
  t.equal(flatten(first), '1d 5b 9b 9b 9d 20b 20d');
  // d goes (its slot 1 reused by a), c arrives in slot 2.
  const next = nextLayout(
    first,
    [{ slot: 1, tokens: sorted([1, 9, 20]) }],
    [
      { slot: 1, tokens: sorted([9, 30]) },
      { slot: 2, tokens: sorted([0, 9, 9]) },
    ],
    ['b', 'a', 'c'],
  );
  t.equal(flatten(next), '0c 5b 9a 9b 9b 9c 9c 20b 30a');
  // Random: tokens from 0..15 so that most tokens tie, members come and go, slots are reused.
  const random = new SeededRandom(21);
  const problems: string[] = [];
  let layout: Layout = EMPTY_LAYOUT;
  let live = new Map<string, { slot: number; tokens: Uint32Array }>();
  let serial = 0;
  for (let step = 0; step < 400 && problems.length === 0; step++) {
    const names = [...layout.names];
    const removed: { slot: number; tokens: Uint32Array }[] = [];
    for (const [name, member] of live) {
      if (random.int(4) !== 0) continue;
      removed.push(member);
      names[member.slot] = undefined;
      live.delete(name);
    }
    const free = removed.map((m) => m.slot).sort((a, b) => b - a);
    const arriving = Array.from({ length: random.int(4) }, () => `m${String.fromCharCode(97 + random.int(26))}${serial++}`).sort();
    const added = arriving.map((name) => {
      const slot = free.pop() ?? names.length;
      names[slot] = name;
      const member = { slot, tokens: sorted(Array.from({ length: 1 + random.int(5) }, () => random.int(16))) };
      live.set(name, member);
      return member;
    });
    layout = nextLayout(layout, removed, added, names);
    const reference = [...live]
      .flatMap(([name, m]) => Array.from(m.tokens, (token) => [token, name] as const))
      .sort((x, y) => x[0] - y[0] || (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0))
      .map(([token, name]) => `${token}${name}`)
      .join(' ');
    if (flatten(layout) !== reference) problems.push(`step ${step}: ${flatten(layout)} against ${reference}`);
    live = new Map(live);
  }
  t.same(problems, [], '400 steps of random joins and leaves over 16 token values: the same order as a sort');
  t.same(
    [...memberTokens('x', 8)],
    [...memberTokens('x', 8)].sort((p, q) => p - q),
    "a member's tokens come sorted",
  );
});

t.test('lazy preference lists: the same entries as the whole list, walked only as far as read', async (t) => {
  const ring = new Ring(
    Array.from({ length: 200 }, (_, i) => ({ name: `node-${i}`, weight: 1 })),
    64,
  );
  const random = new SeededRandom(11);
  const problems: string[] = [];
  for (let k = 0; k < 300; k++) {
    const key = Uint8Array.from({ length: 12 }, () => random.int(256));
    const n = 1 + random.int(4);
    const whole = ring.preferenceList(key, n);
    const lazy = ring.preferences(key, n);
    const read: (PreferenceEntry | undefined)[] = [];
    for (let i = 0; i < 20; i++) read.push(lazy.at(i));
    if (JSON.stringify(read) !== JSON.stringify(whole.slice(0, 20))) problems.push(`key ${k}: first 20 differ`);
    if (lazy.at(whole.length) !== undefined) problems.push(`key ${k}: reads past the end`);
    // A coordinator's lookup reads the memo without adding to it; a replica's (primaries) adds.
    const remembered = ring.primaries(key, n);
    if (lazy.primaries.join() !== remembered.join()) problems.push(`key ${k}: primaries differ`);
    if (ring.preferences(key, n).primaries !== remembered) problems.push(`key ${k}: a remembered arc is not read from the memo`);
    // Down nodes: the plan and every stand-in are those the whole list gives.
    // The coordinator (node-0) counts as up to itself, so it is never among the down ones.
    const down = new Set(whole.filter((e) => random.int(5) === 0 && e.name !== 'node-0').map((e) => e.name));
    const isUp = (name: string) => !down.has(name);
    for (const mode of ['sloppy', 'strict'] as const) {
      let fromWhole: unknown;
      let fromLazy: unknown;
      try {
        fromWhole = planReplicas(whole, 'node-0', isUp, mode, 1, 'w');
      } catch (err) {
        fromWhole = (err as { code: string }).code;
      }
      const fresh = ring.preferences(key, n);
      try {
        fromLazy = planReplicas(fresh, 'node-0', isUp, mode, 1, 'w');
      } catch (err) {
        fromLazy = (err as { code: string }).code;
      }
      if (JSON.stringify(fromLazy) !== JSON.stringify(fromWhole)) problems.push(`key ${k} ${mode}: plans differ`);
      const downPrimaries = fresh.primaries.filter((name) => down.has(name)).length;
      // One fallback is read to see where the primaries end; more only to find stand-ins.
      const walked = fresh.fallbacksWalked;
      if (mode === 'strict' && walked > 1) problems.push(`key ${k}: strict read ${walked} fallbacks`);
      if (mode === 'sloppy' && downPrimaries === 0 && walked > 1) problems.push(`key ${k}: all up, yet read ${walked} fallbacks`);
      const standIns = whole
        .slice(fresh.primaries.length)
        .findIndex((_entry, i, rest) => rest.slice(0, i + 1).filter((x) => !down.has(x.name)).length >= downPrimaries);
      if (mode === 'sloppy' && downPrimaries > 0 && standIns >= 0 && walked !== standIns + 1)
        problems.push(`key ${k}: read ${walked} fallbacks where the stand-ins for ${downPrimaries} down primaries end at ${standIns + 1}`);
    }
    const used = new Set(whole.slice(0, n).map((e) => e.name));
    const lazyUsed = new Set(used);
    for (let s = 0; s < 4; s++) {
      const a = nextStandIn(whole, used, 'node-0', isUp);
      const b = nextStandIn(lazy, lazyUsed, 'node-0', isUp);
      if (a !== b) problems.push(`key ${k}: stand-in ${s} is ${b}, not ${a}`);
      if (a) used.add(a);
      if (b) lazyUsed.add(b);
    }
  }
  t.same(problems.slice(0, 5), [], '300 keys at 200 nodes: lazy reads, plans (strict and sloppy, ~20 % down) and stand-ins agree with the whole list');
  t.same(new Ring([]).preferences(Uint8Array.of(1), 3).at(0), undefined, 'an empty ring lists nobody');
  const walked = ring.walk(12345, 3, 3);
  t.same(
    walked.map((e) => e.name),
    ring.preferencesAt(12345, 3).primaries,
    'a walk of n nodes lists the primaries',
  );
  t.equal(ring.preferencesAt(12345, 3).at(0), walked[0], 'entries are shared, not made per list');
});

t.test('the memo of arcs is bounded, and answers stay right once entries are evicted', async (t) => {
  const members = Array.from({ length: 400 }, (_, i) => ({ name: `node-${i}`, weight: 1 }));
  const ring = new Ring(members, 64);
  const twin = new Ring(members, 64);
  const arcs = 400 * 64;
  t.ok(arcs > WALK_MEMO_ENTRIES, `${arcs} arcs, more than the ${WALK_MEMO_ENTRIES} remembered`);
  const random = new SeededRandom(5);
  const keys = Array.from({ length: 3 * WALK_MEMO_ENTRIES }, () => Uint8Array.from({ length: 8 }, () => random.int(256)));
  for (const key of keys) ring.primaries(key, 3);
  const memo = ring.walkMemo();
  t.ok(memo.entries <= WALK_MEMO_ENTRIES, `${memo.entries} entries after ${keys.length} lookups (cap ${memo.capacity})`);
  const wrong = keys.slice(0, 2000).filter(
    (key) =>
      ring.primaries(key, 3).join() !==
      twin
        .walk(Ring.keyHash(key), 3, 3)
        .map((e) => e.name)
        .join(),
  );
  t.same(wrong, [], 'answers after eviction match a fresh ring');
  const coordinator = new Ring(members, 64);
  for (const key of keys.slice(0, 1000)) coordinator.preferences(key, 3).at(3);
  t.equal(coordinator.walkMemo().entries, 0, "a coordinator's lookups read the memo without filling it");
  ring.ownership(3);
  ring.primarySets(3);
  t.ok(ring.walkMemo().entries <= WALK_MEMO_ENTRIES, 'a pass over every arc (ownership, primary sets) does not grow it');
});
