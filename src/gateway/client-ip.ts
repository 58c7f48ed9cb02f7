import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { createIpRangeList } from '../config/ip-range.js';

/** The client's address and where it was read: the TCP peer, or a hop of X-Forwarded-For. */
export interface ClientAddress {
  ip: string;
  source: 'peer' | 'x-forwarded-for';
}

/**
 * Resolves the IP address dimension. X-Forwarded-For is believed only when the direct peer is a
 * trusted proxy, and then only hop by hop from the right, so a client cannot forge its address.
 */
export interface ClientIpResolver {
  /** The address and its source (`sources.ip`); undefined when the socket has no peer address. */
  locate(req: IncomingMessage): ClientAddress | undefined;
  /** The address alone: `locate(req)?.ip`. */
  resolve(req: IncomingMessage): string | undefined;
}

function normalise(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

/**
 * `trustedProxies` are addresses or CIDR blocks as parseIpRange reads them (the parser config
 * validation uses); an entry it rejects throws, which a validated configuration never holds.
 */
export function createClientIpResolver(trustedProxies: readonly string[]): ClientIpResolver {
  const trusted = createIpRangeList(trustedProxies);
  const isTrusted = (ip: string): boolean => {
    const family = isIP(ip);
    return family !== 0 && trusted.check(ip, family === 6 ? 'ipv6' : 'ipv4');
  };

  const locate = (req: IncomingMessage): ClientAddress | undefined => {
    const peer = req.socket.remoteAddress;
    if (peer === undefined) return undefined;
    const direct = normalise(peer);
    if (trustedProxies.length === 0 || !isTrusted(direct)) return { ip: direct, source: 'peer' };
    const header = req.headers['x-forwarded-for'];
    const hops = (Array.isArray(header) ? header.join(',') : (header ?? ''))
      .split(',')
      .map((h) => normalise(h.trim()))
      .filter((h) => h !== '');
    // Walk from the nearest hop outward and stop at the first address we do not trust.
    let found: ClientAddress = { ip: direct, source: 'peer' };
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i];
      if (hop === undefined || isIP(hop) === 0) break;
      found = { ip: hop, source: 'x-forwarded-for' };
      if (!isTrusted(hop)) break;
    }
    return found;
  };
  return { locate, resolve: (req) => locate(req)?.ip };
}
