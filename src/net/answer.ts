/**
 * One request line in, one reply out: parse and validate the line, check that the connection may
 * run the op, hand the typed request to the node, and write its reply (peer replies through
 * net/peer-json). TcpServer and the simulator both answer lines here, so a message takes the
 * same path through the same validators in both. Connection ops (authentication) go to the
 * server's gate; a server without one (the simulator's links, already peers) refuses them.
 */
import type { Limits } from '../config.js';
import { KvError, toKvError } from '../errors.js';
import type { Reply } from '../protocol/client.js';
import { type ConnectionGate, type ConnectionIdentity, isConnectionRequest, isPeerRequest, opRefusal, type RequestHandler } from '../protocol/connection.js';
import { encodePeerReply } from './peer-json.js';
import { parseRequest, requestIdOf } from './protocol.js';

/** Answers one request line; never throws (errors become error replies). */
export async function answerLine(line: Buffer, handler: RequestHandler, connection: ConnectionIdentity, limits: Limits, gate?: ConnectionGate): Promise<Reply> {
  let parsed: ReturnType<typeof parseRequest>;
  try {
    parsed = parseRequest(line, limits, (op) => {
      const refusal = opRefusal(op, connection);
      if (refusal) throw refusal;
    });
  } catch (err) {
    handler.countError();
    return { id: requestIdOf(err), ok: false, error: toKvError(err).toWire() };
  }
  const { id, request } = parsed;
  try {
    if (isConnectionRequest(request)) {
      if (!gate) throw new KvError('KV_FORBIDDEN', `op ${request.op} sets up a TCP connection; this link needs none`, { op: request.op });
      return { id, ok: true, ...gate.answer(request, connection) };
    }
    if (isPeerRequest(request)) return { id, ok: true, ...encodePeerReply(request, await handler.handlePeer(request, connection)) };
    return { id, ok: true, ...(await handler.handleClient(request, connection)) };
  } catch (err) {
    handler.countError();
    return { id, ok: false, error: toKvError(err).toWire() };
  }
}
