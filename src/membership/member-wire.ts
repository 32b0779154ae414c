/** Member entries from peers, validated field by field (peers are input too). */
import { KvError } from '../errors.js';
import { isJsonObject } from '../json.js';
import { MAX_TABLE_MEMBERS, type MemberInfo } from './member-table.js';

const STATUSES = new Set(['up', 'leaving', 'left', 'removed']);
/** Same bound as `kvctl start --weight`: a peer cannot make every node build a huge ring. */
export const MAX_WEIGHT = 64;

export function parseMembers(raw: unknown): MemberInfo[] {
  if (!Array.isArray(raw) || raw.length > MAX_TABLE_MEMBERS)
    throw new KvError('KV_BAD_REQUEST', `members must be an array of at most ${MAX_TABLE_MEMBERS} entries`);
  return raw.map(parseMember);
}

function parseMember(raw: unknown): MemberInfo {
  if (!isJsonObject(raw)) throw new KvError('KV_BAD_REQUEST', 'malformed member entry');
  const m = raw;
  const ok =
    typeof m.name === 'string' &&
    typeof m.addr === 'string' &&
    typeof m.incarnation === 'string' &&
    Number.isSafeInteger(m.generation) &&
    Number.isSafeInteger(m.heartbeat) &&
    typeof m.weight === 'number' &&
    (m.weight as number) > 0 &&
    (m.weight as number) <= MAX_WEIGHT &&
    STATUSES.has(m.status as string) &&
    Number.isSafeInteger(m.keys) &&
    Number.isSafeInteger(m.handoffPending) &&
    Number.isSafeInteger(m.hintBacklog) &&
    (m.handoffRing === undefined || typeof m.handoffRing === 'string');
  if (!ok) throw new KvError('KV_BAD_REQUEST', 'malformed member entry');
  return {
    name: m.name as string,
    addr: m.addr as string,
    incarnation: m.incarnation as string,
    generation: m.generation as number,
    heartbeat: m.heartbeat as number,
    weight: m.weight as number,
    status: m.status as MemberInfo['status'],
    keys: m.keys as number,
    handoffPending: m.handoffPending as number,
    hintBacklog: m.hintBacklog as number,
    handoffRing: m.handoffRing as string | undefined,
  };
}
