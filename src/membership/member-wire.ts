/** Member entries from peers, validated field by field (peers are input too). */
import { KvError } from '../errors.js';
import { isJsonObject } from '../json.js';
import { DIGEST_LEFT, DIGEST_REMOVED, type HeartbeatDelta, type MemberDigest, type MemberSuspicion } from './gossip-delta.js';
import { MAX_TABLE_MEMBERS, type MemberInfo } from './member-table.js';

const STATUSES = new Set(['up', 'leaving', 'left', 'removed']);
/** Same bound as `kvctl start --weight`: a peer cannot make every node build a huge ring. */
export const MAX_WEIGHT = 64;
/**
 * Longest strings a member entry may carry. With at most MAX_TABLE_MEMBERS entries, a whole table
 * stays under 2 MiB (the default line limit), so it can always be gossiped, and a peer cannot make
 * a node hold megabytes per member. A name fits a host name and a port; an address, a bracketed
 * IPv6 or a host name and a port.
 */
export const MAX_MEMBER_NAME_CHARS = 256;
const MAX_ADDR_CHARS = 262;
const MAX_INCARNATION_CHARS = 64;
const MAX_RING_ID_CHARS = 64;
/**
 * Longest cause of a degraded member, in printable ASCII (so its bytes on the wire are its
 * length): with the other fields at their bounds, a full table still fits the line limit.
 */
export const MAX_DEGRADED_CHARS = 80;
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

function boundedString(raw: unknown, max: number): boolean {
  return typeof raw === 'string' && raw.length > 0 && raw.length <= max;
}

export function parseMembers(raw: unknown): MemberInfo[] {
  if (!Array.isArray(raw) || raw.length > MAX_TABLE_MEMBERS)
    throw new KvError('KV_BAD_REQUEST', `members must be an array of at most ${MAX_TABLE_MEMBERS} entries`);
  return raw.map(parseMember);
}

function parseMember(raw: unknown): MemberInfo {
  if (!isJsonObject(raw)) throw new KvError('KV_BAD_REQUEST', 'malformed member entry');
  const m = raw;
  const ok =
    boundedString(m.name, MAX_MEMBER_NAME_CHARS) &&
    boundedString(m.addr, MAX_ADDR_CHARS) &&
    boundedString(m.incarnation, MAX_INCARNATION_CHARS) &&
    Number.isSafeInteger(m.generation) &&
    Number.isSafeInteger(m.heartbeat) &&
    (m.version === undefined || (Number.isSafeInteger(m.version) && (m.version as number) >= 0 && (m.version as number) <= (m.heartbeat as number))) &&
    typeof m.weight === 'number' &&
    (m.weight as number) > 0 &&
    (m.weight as number) <= MAX_WEIGHT &&
    STATUSES.has(m.status as string) &&
    Number.isSafeInteger(m.keys) &&
    Number.isSafeInteger(m.handoffPending) &&
    Number.isSafeInteger(m.hintBacklog) &&
    (m.handoffRing === undefined || boundedString(m.handoffRing, MAX_RING_ID_CHARS)) &&
    (m.degraded === undefined || (boundedString(m.degraded, MAX_DEGRADED_CHARS) && PRINTABLE_ASCII.test(m.degraded as string))) &&
    (m.refuted === undefined || (Number.isSafeInteger(m.refuted) && (m.refuted as number) >= 0 && (m.refuted as number) <= (m.heartbeat as number)));
  if (!ok) throw new KvError('KV_BAD_REQUEST', 'malformed member entry');
  return {
    name: m.name as string,
    addr: m.addr as string,
    incarnation: m.incarnation as string,
    generation: m.generation as number,
    heartbeat: m.heartbeat as number,
    ...(m.version === undefined ? {} : { version: m.version as number }),
    weight: m.weight as number,
    status: m.status as MemberInfo['status'],
    keys: m.keys as number,
    handoffPending: m.handoffPending as number,
    hintBacklog: m.hintBacklog as number,
    handoffRing: m.handoffRing as string | undefined,
    ...(m.degraded === undefined ? {} : { degraded: m.degraded as string }),
    ...(m.refuted === undefined ? {} : { refuted: m.refuted as number }),
  };
}

/** A list of at most MAX_TABLE_MEMBERS items, each read by `parse`. */
function boundedList<T>(raw: unknown, what: string, parse: (item: unknown) => T | undefined): T[] {
  if (!Array.isArray(raw) || raw.length > MAX_TABLE_MEMBERS)
    throw new KvError('KV_BAD_REQUEST', `${what} must be an array of at most ${MAX_TABLE_MEMBERS} entries`);
  return raw.map((item) => {
    const parsed = parse(item);
    if (parsed === undefined) throw new KvError('KV_BAD_REQUEST', `malformed ${what} entry`);
    return parsed;
  });
}

const isCount = (x: unknown, min: number): x is number => Number.isSafeInteger(x) && (x as number) >= min;

/** Digests from a peer: [name, generation, heartbeat] and an optional flag (removed, left); -1 for a member it lacks. */
export function parseDigests(raw: unknown): MemberDigest[] {
  return boundedList(raw, 'digest', (d): MemberDigest | undefined => {
    if (!Array.isArray(d) || (d.length !== 3 && d.length !== 4)) return undefined;
    const [name, generation, heartbeat, flag] = d as unknown[];
    if (!boundedString(name, MAX_MEMBER_NAME_CHARS) || !isCount(generation, -1) || !isCount(heartbeat, -1)) return undefined;
    if (d.length === 3) return [name as string, generation, heartbeat];
    return flag === DIGEST_REMOVED || flag === DIGEST_LEFT ? [name as string, generation, heartbeat, flag] : undefined;
  });
}

/** Heartbeat deltas from a peer: [name, generation, heartbeat, version], the version not above the heartbeat. */
export function parseBeats(raw: unknown): HeartbeatDelta[] {
  return boundedList(raw, 'heartbeat', (b): HeartbeatDelta | undefined => {
    if (!Array.isArray(b) || b.length !== 4) return undefined;
    const [name, generation, heartbeat, version] = b as unknown[];
    if (!boundedString(name, MAX_MEMBER_NAME_CHARS) || !isCount(generation, 0) || !isCount(heartbeat, 0) || !isCount(version, 0)) return undefined;
    return version <= heartbeat ? [name as string, generation, heartbeat, version] : undefined;
  });
}

/** Suspicions from a peer: [name, generation, refuted, by]. */
export function parseSuspicions(raw: unknown): MemberSuspicion[] {
  return boundedList(raw, 'suspicion', (d): MemberSuspicion | undefined => {
    if (!Array.isArray(d) || d.length !== 4) return undefined;
    const [name, generation, version, by] = d as unknown[];
    if (!boundedString(name, MAX_MEMBER_NAME_CHARS) || !isCount(generation, 0) || !isCount(version, 0) || !boundedString(by, MAX_MEMBER_NAME_CHARS))
      return undefined;
    return [name as string, generation, version, by as string];
  });
}
