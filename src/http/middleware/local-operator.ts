import type { Context } from 'hono';
import { isLoopbackHostName } from '../../auth/loopback.js';
import type { ErrorCode } from '../../errors.js';

/**
 * Why a keyless request from the loopback is still refused, if it is. The loopback
 * peer is the operator's machine, but also every web page its browser opens:
 * - a page on another site can POST a "simple" request (text/plain, no preflight):
 *   browsers mark it with Origin and Sec-Fetch-Site, which curl and scripts do not send;
 * - a page on a rebinding domain (attacker.example resolving to 127.0.0.1) is
 *   same-origin to itself and can read the answers: its Host header names that domain;
 * - a load balancer or reverse proxy on this machine connects from the loopback for
 *   clients anywhere (who choose the Host header it passes on): refused when it says so in a
 *   forwarding header, as docs/scaling.md's nginx configuration does. A proxy that adds none
 *   (nginx's default, any TCP forwarder) cannot be told from a local client: docs/security.md.
 */
export function localOperatorRefusal(
  c: Context,
  allowedHosts: readonly string[],
): { code: ErrorCode; message: string } | undefined {
  const forwarded = FORWARDING_HEADERS.find((name) => c.req.header(name) !== undefined);
  if (forwarded !== undefined) {
    return {
      code: 'UNAUTHORIZED',
      message: `this request came through a proxy (${forwarded}): send an API key; without keys only clients on this machine are served`,
    };
  }
  const url = new URL(c.req.url);
  // The URL's host comes from the Host header, or from an absolute-form request target
  // ("GET http://localhost/ HTTP/1.1"), which then hides the header: check both.
  for (const name of [url.hostname, hostNameOf(c.req.header('host'))]) {
    if (name === undefined || isLoopbackHostName(name) || allowedHosts.includes(name)) continue;
    return {
      code: 'HOST_NOT_ALLOWED',
      message: `Host "${name}" is not a loopback name; without API keys only localhost, 127.x and [::1] are served (or ALLOWED_HOSTS)`,
    };
  }
  const fetchSite = c.req.header('sec-fetch-site');
  const origin = c.req.header('origin');
  // `same-origin` is this service's own page; `none` is the user typing the URL. A page of a
  // CORS_ORIGINS origin is refused here too: keyless serving is for local tools, and a page
  // would act as the operator (an admin); such pages send a key.
  const crossSite =
    (fetchSite !== undefined && fetchSite !== 'same-origin' && fetchSite !== 'none') ||
    (origin !== undefined && origin !== url.origin);
  if (crossSite) {
    return {
      code: 'CROSS_SITE',
      message: 'cross-site browser requests are refused; without API keys only local tools (curl, scripts) are served',
    };
  }
  return undefined;
}

/** Headers a proxy adds for the client it speaks for (standard, de facto, and CDNs'). */
const FORWARDING_HEADERS = [
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-real-ip',
  'via',
  'true-client-ip',
  'cf-connecting-ip',
] as const;

/** The name in a Host header, as a URL would parse it; undefined without one, '' when it does not parse. */
function hostNameOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  try {
    return new URL(`http://${header}`).hostname;
  } catch {
    return '';
  }
}
