/** What the security tests share: secrets and tokens in files, certificates made with openssl, peer connections, a recording proxy. */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { defaultLimits, type Limits } from '../../src/config.js';
import { newSecret } from '../../src/net/credentials.js';
import type { ClientOptions } from '../../src/net/line-connection.js';
import { ConnectionAuthenticator } from '../../src/net/peer-auth.js';
import { encodePingReply, PING_OP_CODE, readFrameHeader } from '../../src/net/peer-frames.js';
import { parseRequest } from '../../src/net/protocol.js';
import { newClientConnection } from '../../src/protocol/connection.js';
import { TestPeer } from './peer-frames.js';

/** Writes a new secret (or `lines`) to dir/name, mode 600; returns the file and the current secret. */
export function writeSecretFile(dir: string, name: string, lines: string[] = [newSecret(randomBytes)]): { file: string; secret: string } {
  const file = join(dir, name);
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  return { file, secret: lines[0] as string };
}

/** Certificates as an operator makes them with openssl (shared with the bench). */
export { type Certificates, makeCertificates } from '../../bench/tls-material.js';

/**
 * A hand-made peer on a raw socket: runs the server side of the handshake through `gate` (lines),
 * then speaks frames as a node does: answers the frame-layer ping with `limits().maxLineBytes`
 * and gives every other request frame, with its id, to `other`.
 */
export function answerAsPeer(
  socket: Socket,
  gate: ConnectionAuthenticator,
  name: string,
  limits: () => Limits,
  other: (frame: Buffer, id: number) => void,
): void {
  const identity = newClientConnection(`test peer ${name}`, true);
  let buffered = Buffer.alloc(0);
  let frames = false;
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    for (;;) {
      if (frames) {
        if (buffered.length < 4 || buffered.length < buffered.readUInt32BE(0) + 4) return;
        const frame = buffered.subarray(0, buffered.readUInt32BE(0) + 4);
        buffered = buffered.subarray(frame.length);
        const { id, opCode } = readFrameHeader(frame);
        if (opCode === PING_OP_CODE) socket.write(encodePingReply(id, limits().maxLineBytes));
        else other(frame, id);
        continue;
      }
      const nl = buffered.indexOf(0x0a);
      if (nl < 0) return;
      const line = buffered.subarray(0, nl);
      buffered = buffered.subarray(nl + 1);
      const id = (JSON.parse(line.toString('utf8')) as { id: number }).id;
      const { request } = parseRequest(line, defaultLimits);
      if (request.op !== 'peer.hello' && request.op !== 'peer.proof') throw new Error(`a hand-made peer got ${request.op} before its handshake`);
      socket.write(`${JSON.stringify({ id, ok: true, ...gate.answer(request, identity) })}\n`);
      if (request.op === 'peer.proof') frames = true;
    }
  });
}

/** The server side of the peer handshake for a node named `name` in cluster c1, as a test server runs it. */
export function serverGate(name: string, secrets: Buffer[]): ConnectionAuthenticator {
  return new ConnectionAuthenticator({
    secrets,
    tokens: undefined,
    self: () => ({ name, cluster: 'c1' }),
    randomBytes,
    requireCertificate: false,
    onFailure: () => {},
  });
}

/** A connection that proves `secret` in the peer handshake and then speaks frames, as a node (or a process that stole the secret) would. */
export function peerConnect(addr: string, secret: string, extra: Omit<ClientOptions, 'peer'> = {}): Promise<TestPeer> {
  return TestPeer.connect(addr, secret, extra);
}

/** A TCP proxy to `target` that keeps every byte it forwards, both ways (what a passive observer on the wire sees). */
export async function recordingProxy(target: () => string): Promise<{ port: number; captured: () => Buffer; close: () => Promise<void> }> {
  const chunks: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    const [host, port] = target().split(':') as [string, string];
    const outbound = netConnect({ host, port: Number(port) });
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.on('data', (c: Buffer) => {
      chunks.push(c);
      outbound.write(c);
    });
    outbound.on('data', (c: Buffer) => {
      chunks.push(c);
      inbound.write(c);
    });
    inbound.on('end', () => outbound.end());
    outbound.on('end', () => inbound.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    captured: () => Buffer.concat(chunks),
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port the OS says is free now (for a daemon that must know its port before it starts). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
