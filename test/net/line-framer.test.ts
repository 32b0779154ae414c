import t from 'tap';
import { LineFramer } from '../../src/net/line-framer.js';
import { seededRandom } from '../helpers/random.js';

interface Framed {
  lines: string[];
  overflows: number[];
}

function frame(maxLineBytes: number, chunks: (string | Buffer)[], end = true): Framed {
  const out: Framed = { lines: [], overflows: [] };
  const f = new LineFramer(
    maxLineBytes,
    (line) => out.lines.push(line.toString('utf8')),
    (bytes) => out.overflows.push(bytes),
  );
  for (const c of chunks) f.push(Buffer.isBuffer(c) ? c : Buffer.from(c, 'utf8'));
  if (end) f.end();
  return out;
}

/** Splits a buffer into single bytes. */
const bytewise = (s: string): Buffer[] => [...Buffer.from(s, 'utf8')].map((x) => Buffer.from([x]));

t.test('framing table (no overflow)', async (t) => {
  const cases: [string, number, (string | Buffer)[], boolean, string[]][] = [
    ['one line', 100, ['abc\n'], true, ['abc']],
    ['split across chunks', 100, ['ab', 'c\nd', 'e\n'], true, ['abc', 'de']],
    ['split across many chunks', 100, ['a', 'b', 'c', '', 'd', '\n'], true, ['abcd']],
    ['many lines in one chunk', 100, ['a\nb\nc\n'], true, ['a', 'b', 'c']],
    ['many lines and a partial', 100, ['a\nb\nc', 'd\n'], true, ['a', 'b', 'cd']],
    ['CRLF', 100, ['a\r\nb\r\n'], true, ['a', 'b']],
    ['CR and LF in different chunks', 100, ['a\r', '\nb\r', '\n'], true, ['a', 'b']],
    ['a CR inside a line is kept', 100, ['a\rb\n'], true, ['a\rb']],
    ['only the last CR is dropped', 100, ['a\r\r\n'], true, ['a\r']],
    ['empty lines skipped', 100, ['\n\na\n\r\n\n', '\n', 'b\n'], true, ['a', 'b']],
    ['end() flushes a last line', 100, ['a\nlast'], true, ['a', 'last']],
    ['no end(): the partial line waits', 100, ['a\nlast'], false, ['a']],
    ['end() with a lone CR emits nothing', 100, ['a\n\r'], true, ['a']],
    ['empty input', 100, [], true, []],
    ['line exactly at the limit', 5, ['abcde\n'], true, ['abcde']],
    ['line exactly at the limit over chunks', 5, ['ab', 'cd', 'e\n'], true, ['abcde']],
    ['line exactly at the limit at end()', 5, ['abcde'], true, ['abcde']],
    ['line at the limit byte by byte', 5, bytewise('abcde\nfghij\n'), true, ['abcde', 'fghij']],
    ['several lines each at the limit in one chunk', 3, ['abc\ndef\nghi\n'], true, ['abc', 'def', 'ghi']],
    ['multi-byte at the limit (5 × 2 bytes = 10)', 10, ['ééééé\n'], true, ['ééééé']],
    ['multi-byte split mid-character', 100, [Buffer.from([0x68, 0xc3]), Buffer.from([0xa9, 0x0a])], true, ['hé']],
    ['4-byte character byte by byte', 4, bytewise('😀\n'), true, ['😀']],
  ];
  for (const [name, max, chunks, end, want] of cases) {
    const got = frame(max, chunks, end);
    t.same(got.lines, want, name);
    t.same(got.overflows, [], `${name}: no overflow`);
  }
});

t.test('overflow table', async (t) => {
  const cases: [string, number, (string | Buffer)[], string[]][] = [
    ['one byte over in a single chunk, with newline', 5, ['abcdef\n'], []],
    ['one byte over in a single chunk, no newline', 5, ['abcdef'], []],
    ['one byte over spread over chunks', 5, ['ab', 'cd', 'ef', '\n'], []],
    ['one byte over byte by byte', 5, bytewise('abcdef\n'), []],
    ['one byte over, the newline in a later chunk', 5, ['abcde', 'f', '\n'], []],
    ['far over in one chunk', 5, ['x'.repeat(10_000)], []],
    ['lines before the long one are delivered', 5, ['ok\nabcdef\nlater\n'], ['ok']],
    ['lines before it in earlier chunks too', 5, ['ok\n', 'fine\nabc', 'def\nlater\n'], ['ok', 'fine']],
    ['limits are bytes: 6 characters, 12 bytes', 10, ['éééééé\n'], []],
    ['limits are bytes: 3 emoji are 12 bytes', 10, ['😀😀😀\n'], []],
    ['limits are bytes, over chunks', 10, ['ééé', 'ééé'], []],
    ['CR counts until the line ends: content over the limit', 5, ['abcdef\r\n'], []],
  ];
  for (const [name, max, chunks, wantLines] of cases) {
    const out: Framed = { lines: [], overflows: [] };
    const f = new LineFramer(
      max,
      (line) => out.lines.push(line.toString('utf8')),
      (bytes) => out.overflows.push(bytes),
    );
    for (const c of chunks) f.push(Buffer.isBuffer(c) ? c : Buffer.from(c, 'utf8'));
    t.equal(out.overflows.length, 1, `${name}: onOverflow called exactly once`);
    t.ok((out.overflows[0] ?? 0) > max, `${name}: reports more than the limit (${out.overflows[0]})`);
    // Afterwards all input is ignored, including end().
    f.push(Buffer.from('after\nmore\n'));
    f.push(Buffer.from('x'.repeat(100)));
    f.end();
    t.same(out.lines, wantLines, `${name}: lines`);
    t.equal(out.overflows.length, 1, `${name}: still exactly once after more input`);
  }
});

t.test('onOverflow reports the bytes seen of the offending line', async (t) => {
  t.same(frame(5, ['abcdef\n']).overflows, [6]);
  t.same(frame(5, ['abc', 'defgh']).overflows, [8]);
  t.same(frame(10, ['éééééé\n']).overflows, [12]);
});

t.test('property: any chunking yields the same lines', async (t) => {
  for (let seed = 1; seed <= 200; seed++) {
    const rand = seededRandom(seed);
    const alphabet = ['a', 'b', 'é', '😀', '\r', ' ', '{', '"'];
    const lines = Array.from({ length: 1 + Math.floor(rand() * 20) }, () =>
      Array.from({ length: Math.floor(rand() * 12) }, () => alphabet[Math.floor(rand() * alphabet.length)]).join(''),
    );
    const crlf = rand() < 0.5;
    const text = lines.map((l) => l + (crlf ? '\r\n' : '\n')).join('');
    const bytes = Buffer.from(text, 'utf8');
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; ) {
      const n = Math.floor(rand() * 8);
      chunks.push(bytes.subarray(at, at + n));
      at += n;
    }
    const expected = lines.map((l) => (!crlf && l.endsWith('\r') ? l.slice(0, -1) : l)).filter((l) => l.length > 0);
    const maxBytes = Math.max(0, ...lines.map((l) => Buffer.byteLength(l) + (crlf ? 1 : 0)));
    const got = frame(maxBytes, chunks);
    t.same(got, { lines: expected, overflows: [] }, `seed=${seed} max=${maxBytes}`);
  }
});

/** Frames with skipOverlongLines and emitEmptyLines, as one event list: each line, or `!N` for an over-long one. */
function frameSkipping(maxLineBytes: number, chunks: (string | Buffer)[]): string[] {
  const events: string[] = [];
  const f = new LineFramer(
    maxLineBytes,
    (line) => events.push(line.toString('utf8')),
    (bytes) => events.push(`!${bytes}`),
    { skipOverlongLines: true, emitEmptyLines: true },
  );
  for (const c of chunks) f.push(Buffer.isBuffer(c) ? c : Buffer.from(c, 'utf8'));
  f.end();
  return events;
}

t.test('skipOverlongLines: one report per over-long line, then the next line as usual', async (t) => {
  const cases: [string, number, (string | Buffer)[], string[]][] = [
    ['in one chunk', 5, ['ok\nabcdef\nlater\n'], ['ok', '!6', 'later']],
    ['the long line spans chunks', 5, ['ok\nabc', 'def', 'ghi\nlater\n'], ['ok', '!6', 'later']],
    ['its newline in a chunk of its own', 5, ['abcdefgh', '\n', 'next\n'], ['!8', 'next']],
    ['byte by byte', 3, bytewise('ab\nabcd\ncd\n'), ['ab', '!4', 'cd']],
    ['two long lines in a row', 3, ['abcd\nefgh\nij\n'], ['!4', '!4', 'ij']],
    ['a long last line without newline', 3, ['ab\nabcdef'], ['ab', '!6']],
    ['a long line, then end() and nothing else', 3, ['abcd', 'efgh'], ['!4']],
    ['empty lines are kept for numbering', 5, ['a\n\n\r\nb\n'], ['a', '', '', 'b']],
  ];
  for (const [name, max, chunks, want] of cases) t.same(frameSkipping(max, chunks), want, name);
});

t.test('property: with skipOverlongLines any chunking yields the same events', async (t) => {
  for (let seed = 1; seed <= 200; seed++) {
    const rand = seededRandom(seed);
    const lines = Array.from({ length: 1 + Math.floor(rand() * 20) }, () => 'x'.repeat(Math.floor(rand() * 12)));
    const bytes = Buffer.from(lines.map((l) => `${l}\n`).join(''), 'utf8');
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; ) {
      const n = 1 + Math.floor(rand() * 8);
      chunks.push(bytes.subarray(at, at + n));
      at += n;
    }
    const events = frameSkipping(6, chunks);
    t.equal(events.length, lines.length, `seed=${seed}: one event per input line`);
    t.ok(
      events.every((e, i) => ((lines[i] as string).length > 6 ? e.startsWith('!') : e === lines[i])),
      `seed=${seed}: long lines reported, the others delivered, in order`,
    );
  }
});
