import { isIP } from 'node:net';

/** A socket peer address on the loopback: 127.0.0.0/8, ::1, or 127.x mapped into IPv6. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(v4) === 4) return v4.startsWith('127.');
  return isIP(address) === 6 && /^(0{0,4}:){2,7}0{0,3}1$|^::1$/.test(address);
}

/** A listen address (HOST) that only this machine can reach. */
export function isLoopbackListen(host: string): boolean {
  return host === 'localhost' || isLoopbackAddress(host);
}

/**
 * A request URL's host name (from its Host header) that only this machine resolves:
 * `localhost`, a 127.x address or `[::1]`. Any other name may be an attacker's DNS
 * pointing at 127.0.0.1 (DNS rebinding), so keyless requests must not trust it.
 */
export function isLoopbackHostName(name: string): boolean {
  return name === 'localhost' || name === '[::1]' || (isIP(name) === 4 && name.startsWith('127.'));
}
