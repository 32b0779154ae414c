/** Errors across the wire: what a peer or daemon sends as an error is rebuilt with its code, and checked. */
import t from 'tap';
import { KvError } from '../src/errors.js';

t.test('an error reply round-trips with its code, message and details', async (t) => {
  const sent = new KvError('KV_QUORUM_NOT_MET', 'only 1 of 3', { needed: 2 });
  const back = KvError.fromWire(JSON.parse(JSON.stringify(sent.toWire())));
  t.equal(back.code, 'KV_QUORUM_NOT_MET');
  t.equal(back.message, 'only 1 of 3');
  t.same(back.details, { needed: 2 });
});

t.test('an unknown code, or something that is not an error, becomes KV_INTERNAL without trusting it', async (t) => {
  t.equal(KvError.fromWire({ code: 'KV_FROM_THE_FUTURE', message: 'x' }).code, 'KV_INTERNAL');
  t.match(KvError.fromWire({ code: 'KV_FROM_THE_FUTURE', message: 'x' }).message, /KV_FROM_THE_FUTURE: x/);
  for (const junk of [undefined, null, 'boom', 42, [], { message: 'no code' }, { code: 7 }]) {
    t.equal(KvError.fromWire(junk).code, 'KV_INTERNAL', JSON.stringify(junk) ?? 'undefined');
  }
  t.equal(KvError.fromWire({ code: 'KV_TIMEOUT', message: 'm', details: [1, 2] }).details, undefined, 'details must be an object');
  t.equal(KvError.fromWire({ code: 'KV_TIMEOUT', message: 'x'.repeat(100_000) }).message.length, 4096, 'a huge message is cut');
});
