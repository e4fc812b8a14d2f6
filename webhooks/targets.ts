import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

import { ServerError } from '../common/errors';

/** Longer is not a receiver's URL; it is an attempt to store a large string. */
const MAX_URL_LENGTH = 2048;

/**
 * Where the API may send events (S-31). Every subscription URL is a request the API makes on
 * an admin's behalf, from inside the deployment: refused are schemes other than http(s),
 * credentials in the URL, the API itself (a loop that would feed it its own events),
 * link-local addresses (cloud metadata services) always, and loopback and private ranges
 * unless the deployment allows them (on-premises receivers). Checked when the subscription is
 * made and again for the address each connection resolves to, so DNS cannot swap it later.
 */
export interface TargetPolicy {
  allowPrivate: boolean;
  /** The API's own listeners: host names and ports it answers on. */
  self: { hosts: readonly string[]; ports: readonly number[] };
}

const LINK_LOCAL = blocks([
  ['169.254.0.0', 16, 'ipv4'],
  ['fe80::', 10, 'ipv6'],
]);
const PRIVATE = blocks([
  ['0.0.0.0', 8, 'ipv4'],
  ['10.0.0.0', 8, 'ipv4'],
  ['100.64.0.0', 10, 'ipv4'],
  ['127.0.0.0', 8, 'ipv4'],
  ['172.16.0.0', 12, 'ipv4'],
  ['192.168.0.0', 16, 'ipv4'],
  ['::', 128, 'ipv6'],
  ['::1', 128, 'ipv6'],
  ['fc00::', 7, 'ipv6'],
]);
const LOCAL = blocks([
  ['0.0.0.0', 8, 'ipv4'],
  ['127.0.0.0', 8, 'ipv4'],
  ['::', 128, 'ipv6'],
  ['::1', 128, 'ipv6'],
]);

function blocks(list: Array<[string, number, 'ipv4' | 'ipv6']>): BlockList {
  const b = new BlockList();
  for (const [net, prefix, family] of list) b.addSubnet(net, prefix, family);
  return b;
}

function refused(message: string): ServerError {
  return new ServerError('WEBHOOK_URL_REFUSED', message);
}

/** The URL's own form: parsed, http(s), no credentials, not the API's own name and port. */
export function checkTargetUrl(raw: string, policy: TargetPolicy): URL {
  if (raw.length > MAX_URL_LENGTH) throw refused(`the URL is longer than ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refused('not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw refused(`scheme ${url.protocol} is not http(s)`);
  if (url.username || url.password) throw refused('credentials do not belong in the URL: the secret signs each event');
  const port = portOf(url);
  const host = bare(url.hostname);
  if (policy.self.hosts.map((h) => h.toLowerCase()).includes(host.toLowerCase()) && policy.self.ports.includes(port))
    throw refused('the URL is the API itself');
  if (isIP(host)) checkAddress(host, port, policy);
  return url;
}

/** An address a URL resolved to; also each connection's, at connect time. */
export function checkAddress(address: string, port: number, policy: TargetPolicy): void {
  const ip = unmapped(address);
  const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
  if (LINK_LOCAL.check(ip, family)) throw refused(`${ip} is link-local`);
  if (LOCAL.check(ip, family) && policy.self.ports.includes(port)) throw refused('the URL is the API itself');
  if (!policy.allowPrivate && PRIVATE.check(ip, family))
    throw refused(`${ip} is a loopback or private address (OTA_WEBHOOK_ALLOW_PRIVATE=1 allows them)`);
}

/** The URL checked, then each address its host resolves to now. */
export async function checkTarget(raw: string, policy: TargetPolicy): Promise<URL> {
  const url = checkTargetUrl(raw, policy);
  const host = bare(url.hostname);
  if (isIP(host)) return url;
  let addresses: Array<{ address: string }>;
  try {
    addresses = await lookup(host, { all: true });
  } catch {
    throw refused(`${host} does not resolve`);
  }
  for (const a of addresses) checkAddress(a.address, portOf(url), policy);
  return url;
}

function portOf(url: URL): number {
  return url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

function bare(hostname: string): string {
  return hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
}

function unmapped(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return m ? m[1]! : ip;
}
