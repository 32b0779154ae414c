/**
 * Records for a replica are batched by their bytes on the wire, not only by count: every line the
 * client writes fits the line limit; a record too large for a line alone is refused
 * (KV_RECORD_TOO_LARGE, naming the key) without being sent; a batch a peer with a smaller line
 * limit refuses is sent again one record at a time, so only the record that does not fit fails.
 */
import t from 'tap';
import { VirtualClock } from '../../src/env/clock.js';
import { KvError } from '../../src/errors.js';
import { encodePeerRequest } from '../../src/net/peer-frames.js';
import { PeerClient } from '../../src/peer/peer-client.js';
import type { PeerRequest } from '../../src/protocol/peer.js';
import type { PeerTransport } from '../../src/protocol/transport.js';
import { CODEC_RAW } from '../../src/storage/codec.js';
import type { StoredRecord } from '../../src/storage/record-format.js';

const record = (bytes: number, fill = 7): StoredRecord => {
  const stored = Buffer.alloc(bytes, fill);
  return { clock: new Map([['n1~a~1', 1]]), siblings: [{ dot: ['n1~a~1', 1], ts: 1_700_000_000_000, value: { codec: CODEC_RAW, stored, raw: stored } }] };
};

/** A transport that writes each request as its line would be, refuses lines over `peerLineBytes` as a peer does, and stores the rest. */
function fakePeer(peerLineBytes: number) {
  const lines: number[] = [];
  const stored: string[] = [];
  const transport = {
    async request(_addr: string, request: PeerRequest) {
      const bytes = encodePeerRequest(request, 123456).length;
      lines.push(bytes);
      if (bytes > peerLineBytes) throw new KvError('KV_LINE_TOO_LONG', `request line exceeds ${peerLineBytes} bytes; closing connection`);
      if (request.op === 'kv.replicate') {
        stored.push(request.key.toString());
        return {};
      }
      if (request.op === 'kv.replicate.many') {
        for (const item of request.items) stored.push(item.key.toString());
        return { results: request.items.map(() => undefined) };
      }
      throw new Error(`unexpected ${request.op}`);
    },
    async close() {},
  } as PeerTransport;
  return { transport, lines, stored };
}

function client(transport: PeerTransport, maxLineBytes: number) {
  const clock = new VirtualClock(0);
  const peers = new PeerClient({ self: 'n1', transport, clock, addrOf: () => 'n2:1', isUp: () => true, requestTimeoutMs: 1000, maxLineBytes });
  return { clock, peers };
}

const LINE = 120_000;

t.test('a batch is bounded by bytes: every line fits, every record arrives', async (t) => {
  const peer = fakePeer(LINE);
  const { clock, peers } = client(peer.transport, LINE);
  // 40 records of ~8 KB in base64 would be ~430 KB in one message by count alone.
  const sends = Array.from({ length: 40 }, (_, i) => peers.replicate('n2', { key: Buffer.from(`k${i}`), record: record(8000, i) }));
  clock.advance(0);
  await Promise.all(sends);
  t.equal(peer.stored.length, 40, 'all 40 records stored');
  t.ok(peer.lines.length > 1 && peer.lines.length < 40, `in ${peer.lines.length} lines`);
  t.ok(
    peer.lines.every((bytes) => bytes <= LINE),
    `each line at most ${LINE} bytes (largest ${Math.max(...peer.lines)})`,
  );
  t.ok(Math.max(...peer.lines) > LINE / 2, 'and batches are not needlessly small');
});

t.test('a record too large for a line alone is refused without being sent', async (t) => {
  const peer = fakePeer(LINE);
  const { clock, peers } = client(peer.transport, LINE);
  const big = peers.replicate('n2', { key: Buffer.from('fat key'), record: record(LINE) });
  const small = peers.replicate('n2', { key: Buffer.from('thin'), record: record(10) });
  clock.advance(0);
  await t.rejects(big, { code: 'KV_RECORD_TOO_LARGE', message: /key "fat key".*not sent/, details: { key: 'fat key', limit: LINE } });
  await small;
  t.same(peer.stored, ['thin'], 'the small record went, the large one did not');
  t.equal(peer.lines.length, 1);
});

t.test('a peer with a smaller line limit: the batch is sent again record by record, and only the one that does not fit fails', async (t) => {
  const peer = fakePeer(30_000);
  const { clock, peers } = client(peer.transport, LINE);
  const keys = ['a', 'b', 'c', 'd'];
  const sends = keys.map((k) => peers.replicate('n2', { key: Buffer.from(k), record: record(k === 'c' ? 40_000 : 15_000) }));
  clock.advance(0);
  const outcomes = await Promise.allSettled(sends);
  t.same(
    outcomes.map((o) => o.status),
    ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'],
  );
  const refused = outcomes[2] as PromiseRejectedResult;
  t.match(refused.reason, { code: 'KV_RECORD_TOO_LARGE', message: /key "c".*n2 refused the frame/ });
  t.same(peer.stored.sort(), ['a', 'b', 'd']);
});
