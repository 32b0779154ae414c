/**
 * One request line in, one reply out: parse and validate the line, check that the connection may
 * run the op, hand the typed request to the node, and write its reply (peer replies through
 * net/peer-json). TcpServer and the simulator both answer lines here, so a message takes the
 * same path through the same validators in both.
 */
import type { Limits } from '../config.js';
import { KvError, toKvError } from '../errors.js';
import type { Reply } from '../protocol/client.js';
import { type ConnectionIdentity, isPeerRequest, opRefusal, type RequestHandler } from '../protocol/connection.js';
import { encodePeerReply } from './peer-json.js';
import { parseRequest, requestIdOf } from './protocol.js';

/** Answers one request line; never throws (errors become error replies). */
export async function answerLine(line: Buffer, handler: RequestHandler, connection: ConnectionIdentity, limits: Limits): Promise<Reply> {
  let parsed: ReturnType<typeof parseRequest>;
  try {
    parsed = parseRequest(line, limits);
  } catch (err) {
    handler.countError();
    return { id: requestIdOf(err), ok: false, error: toKvError(err).toWire() };
  }
  const { id, request } = parsed;
  try {
    const refusal = opRefusal(request.op, connection);
    if (refusal) throw new KvError('KV_FORBIDDEN', refusal, { op: request.op });
    if (isPeerRequest(request)) return { id, ok: true, ...encodePeerReply(request, await handler.handlePeer(request, connection)) };
    return { id, ok: true, ...(await handler.handleClient(request, connection)) };
  } catch (err) {
    handler.countError();
    return { id, ok: false, error: toKvError(err).toWire() };
  }
}
