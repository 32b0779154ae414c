/**
 * Binary peer frames against a real daemon: a peer of another protocol version is refused naming
 * both versions; after the handshake, hostile frames (cut short, bytes after the last field, an
 * unknown op code, a bad record, a huge count, a frame that is not a request) are each answered by
 * an error for their id while the connection goes on serving; a malformed header or a frame over
 * --max-line-bytes closes only that connection; and a 3-node cluster writes and reads through
 * frames, every replica holding what it acknowledged.
 */
import t from 'tap';
import { KvClient } from '../../src/client/client.js';
import { decodeErrorFrame, encodePeerRequest, FRAME_ERROR, FRAME_REPLY, readFrameHeader } from '../../src/net/peer-frames.js';
import { PEER_PROTOCOL_VERSION } from '../../src/net/protocol.js';
import { startDaemon, tempDir } from '../helpers/cli.js';
import { replicaReader, startCluster } from '../helpers/cluster.js';
import { frameFromJson, rawPeer } from '../helpers/peer-frames.js';
import { writeSecretFile } from '../helpers/security.js';

const b64 = (text: string) => Buffer.from(text).toString('base64');

t.test('a real daemon: version refusal, per-frame errors that keep the connection, and the frame limit', async (t) => {
  const { file, secret } = writeSecretFile(tempDir(t), 'secret');
  const daemon = await startDaemon(t, { args: ['--secret-file', file, '--max-line-bytes', String(4 * 1024 * 1024)] });
  const key = Buffer.from(secret);

  await t.rejects(rawPeer(daemon.addr, key, { version: 1 }), {
    code: 'KV_BAD_REQUEST',
    message: `peer.hello: this node speaks peer protocol version ${PEER_PROTOCOL_VERSION}, not 1`,
  });

  const { socket, reader } = await rawPeer(daemon.addr, key);
  t.teardown(() => socket.destroy());
  const read = { op: 'kv.read', key: Buffer.from('k'), digest: false } as const;
  const cut = encodePeerRequest(read, 1).subarray(0, 13);
  cut.writeUInt32BE(cut.length - 4, 0);
  const trailing = Buffer.concat([encodePeerRequest(read, 2), Buffer.from([7, 7])]);
  trailing.writeUInt32BE(trailing.length - 4, 0);
  const unknownOp = encodePeerRequest(read, 3);
  unknownOp[9] = 250;
  const badRecord = frameFromJson({ op: 'kv.replicate', key: b64('k'), record: { clock: [['w~1', 1]], siblings: [['w~1', 9, 5, 0, b64('x')]] } }, 4);
  const hugeCount = frameFromJson({ op: 'ae.fetch', peer: 'p', keys: [b64('k')] }, 5);
  hugeCount.writeUInt32BE(2 ** 31, 10 + 2 + 1);
  const reply = encodePeerRequest(read, 6);
  reply[4] = FRAME_REPLY;
  const cases: [number, Buffer, RegExp][] = [
    [1, cut, /malformed kv\.read frame: key runs past the end/],
    [2, trailing, /2 bytes after the last field/],
    [3, unknownOp, /unknown op code 250/],
    [4, badRecord, /a sibling's dot is not covered by the record's clock/],
    [5, hugeCount, /keys must be 1 to 1024, not 2147483648/],
    [6, reply, /must be a request/],
  ];
  for (const [id, frame, message] of cases) {
    socket.write(frame);
    const answer = await reader.frame();
    t.match(readFrameHeader(answer), { kind: FRAME_ERROR, id }, `frame ${id}: an error for its id`);
    t.match(decodeErrorFrame(answer), { code: 'KV_BAD_REQUEST', message });
  }
  socket.write(encodePeerRequest(read, 7));
  t.match(readFrameHeader(await reader.frame()), { kind: FRAME_REPLY, id: 7 }, 'the same connection still serves');

  // A frame whose header claims 64 MiB: refused at once, the connection closed, the daemon unharmed.
  const over = await rawPeer(daemon.addr, key);
  t.teardown(() => over.socket.destroy());
  const header = encodePeerRequest(read, 8).subarray(0, 10);
  header.writeUInt32BE(64 * 1024 * 1024, 0);
  over.socket.write(header);
  const farewell = await over.reader.frame();
  t.match(readFrameHeader(farewell), { kind: FRAME_ERROR, id: 0 });
  t.match(decodeErrorFrame(farewell), { code: 'KV_LINE_TOO_LONG', details: { limit: 4 * 1024 * 1024 } });
  await over.reader.ended();

  const malformed = await rawPeer(daemon.addr, key);
  t.teardown(() => malformed.socket.destroy());
  malformed.socket.write(Buffer.from([0, 0, 0, 1, 1]));
  t.match(decodeErrorFrame(await malformed.reader.frame()), { code: 'KV_BAD_REQUEST', message: /malformed frame header/ });
  await malformed.reader.ended();

  socket.write(encodePeerRequest(read, 9));
  t.match(readFrameHeader(await reader.frame()), { kind: FRAME_REPLY, id: 9 }, 'the first connection was not touched');
  const client = await KvClient.connect(daemon.addr);
  t.ok((await client.put('after', 'frames')).context, 'clients are served as before');
  await client.close();
});

t.test('a 3-node cluster writes and reads through frames; every replica holds what it acknowledged', async (t) => {
  const nodes = await startCluster(t, 3);
  const client = await KvClient.connect(nodes[0]?.addr as string);
  t.teardown(() => client.close());
  const value = Buffer.from(Array.from({ length: 1024 }, (_, i) => (i * 7) % 256))
    .toString('base64')
    .slice(0, 1024);
  for (let i = 0; i < 50; i++) await client.put(`frames:${i}`, `${value}${i}`, { w: 3 });
  for (const d of nodes) {
    const reader = await replicaReader(d);
    let held = 0;
    for (let i = 0; i < 50; i++) {
      const { record } = await reader.request({ op: 'kv.read', key: b64(`frames:${i}`) });
      if (record !== null) held++;
    }
    await reader.close();
    t.equal(held, 50, `${d.name} holds every key written at W=3`);
  }
  for (let i = 0; i < 50; i += 7) t.same((await client.get(`frames:${i}`, { r: 3 })).values.map(String), [`${value}${i}`]);
});
