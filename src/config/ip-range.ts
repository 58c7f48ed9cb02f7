import { BlockList, isIP } from 'node:net';

/** An address or CIDR block of `gateway.trustedProxies`, parsed. */
export interface IpRange {
  address: string;
  /** Prefix length; the full length of the family for a single address. */
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** A parsed range, or why the text is not one (a message without the value). */
export type IpRangeParse = { range: IpRange } | { error: string };

const PREFIX = /^\d{1,3}$/;

/**
 * Parses `10.0.0.1`, `10.0.0.0/8`, `::1` or `fd00::/8` as node:net understands them (isIP).
 * An IPv4-mapped IPv6 block (`::ffff:10.0.0.0/104`) becomes the IPv4 block it maps, because
 * peer addresses are compared in their IPv4 form. This is the one parser for trusted proxies:
 * config validation rejects what it rejects, and the IP resolver builds its list from it.
 *
 * @example
 * parseIpRange('10.0.0.0/8'); // { range: { address: '10.0.0.0', prefix: 8, family: 'ipv4' } }
 * parseIpRange('10.0.0.0/33'); // { error: 'prefix /33 is out of range for IPv4 (0-32)' }
 */
export function parseIpRange(text: string): IpRangeParse {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const prefixText = slash === -1 ? undefined : text.slice(slash + 1);
  const version = isIP(address);
  if (version === 0) return { error: 'must be an IP address or a CIDR block (e.g. 10.0.0.0/8, fd00::/8)' };
  const bits = version === 4 ? 32 : 128;
  let prefix = bits;
  if (prefixText !== undefined) {
    if (!PREFIX.test(prefixText) || Number(prefixText) > bits)
      return { error: `the prefix after "/" must be a whole number 0-${bits} for IPv${version}` };
    prefix = Number(prefixText);
  }
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped !== undefined && prefix >= 96)
    return { range: { address: mapped, prefix: prefix - 96, family: 'ipv4' } };
  return { range: { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' } };
}

/**
 * A BlockList holding the given ranges. Throws on a range parseIpRange rejects: validated
 * configuration never holds one.
 */
export function createIpRangeList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const parsed = parseIpRange(entry);
    if ('error' in parsed) throw new Error(`invalid IP range: ${parsed.error}`);
    const { address, prefix, family } = parsed.range;
    list.addSubnet(address, prefix, family);
  }
  return list;
}
