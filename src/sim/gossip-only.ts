/** A simulated node that serves only gossip: the gossip engine without the rest of a KvNode, for membership simulations. */
import { KvError } from '../errors.js';
import type { Gossiper } from '../gossip/gossiper.js';
import type { RequestHandler } from '../protocol/connection.js';

export function gossipOnly(gossiper: Gossiper): RequestHandler {
  return {
    handleClient: async (request) => {
      throw new KvError('KV_UNKNOWN_OP', `this simulated node serves only gossip, not ${request.op}`);
    },
    handlePeer: (async (request: { op: string }) => {
      if (request.op !== 'gossip.push') throw new KvError('KV_UNKNOWN_OP', `this simulated node serves only gossip, not ${request.op}`);
      const push = request as Extract<Parameters<RequestHandler['handlePeer']>[0], { op: 'gossip.push' }>;
      return gossiper.handlePush(push);
    }) as RequestHandler['handlePeer'],
    countError() {},
  };
}
