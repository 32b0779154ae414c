/**
 * One request in, one reply out: parse and validate it, check that the connection may run the op,
 * hand the typed request to the node, and write its reply. Lines (NDJSON: clients, and the peer
 * handshake) are answered by answerLine; binary frames (peers, after the handshake) by
 * answerFrame, through net/peer-frames. TcpServer and the simulator both answer here, so a message
 * takes the same path through the same validators in both. Connection ops (authentication) go to
 * the server's gate; a server without one (the simulator's links, already peers) refuses them.
 */
import type { Limits } from '../config.js';
import { KvError, toKvError } from '../errors.js';
import type { Reply } from '../protocol/client.js';
import { type ConnectionGate, type ConnectionIdentity, isConnectionRequest, opRefusal, type RequestHandler } from '../protocol/connection.js';
import {
  decodePeerRequest,
  encodeErrorFrame,
  encodePeerReply,
  encodePingReply,
  FRAME_HEADER_BYTES,
  FRAME_REQUEST,
  opOfCode,
  PING_OP_CODE,
  readFrameHeader,
} from './peer-frames.js';
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
    // Peer ops never parse from a line (protocol.ts refuses them): what is left is a client's.
    return { id, ok: true, ...(await handler.handleClient(request as Parameters<RequestHandler['handleClient']>[0], connection)) };
  } catch (err) {
    handler.countError();
    return { id, ok: false, error: toKvError(err).toWire() };
  }
}

/**
 * Answers one request frame (whole, header included, its size within the limit); never throws: a
 * frame that cannot be decoded or run is answered by an error frame with its id.
 */
export async function answerFrame(frame: Buffer, handler: RequestHandler, connection: ConnectionIdentity, limits: Limits): Promise<Buffer> {
  const { kind, id, opCode } = readFrameHeader(frame);
  try {
    if (kind !== FRAME_REQUEST) throw new KvError('KV_BAD_REQUEST', `a frame to a node must be a request (kind ${FRAME_REQUEST}), not kind ${kind}`);
    if (opCode === PING_OP_CODE) {
      if (frame.length !== FRAME_HEADER_BYTES) throw new KvError('KV_BAD_REQUEST', 'malformed ping frame: it carries no payload');
      return encodePingReply(id, limits.maxLineBytes);
    }
    const op = opOfCode(opCode);
    if (op === undefined) throw new KvError('KV_BAD_REQUEST', `unknown op code ${opCode} in a peer frame`, { opCode });
    const refusal = opRefusal(op, connection);
    if (refusal) throw refusal;
    const request = decodePeerRequest(op, frame, limits);
    return encodePeerReply(request, await handler.handlePeer(request, connection), id);
  } catch (err) {
    handler.countError();
    return encodeErrorFrame(id, opCode, toKvError(err).toWire());
  }
}
