import { createHmac } from 'node:crypto';

/**
 * The Ephemera-Signature header of a webhook call: `t=<unix seconds>,v1=<hex HMAC-SHA256 of
 * "<t>.<raw body>" keyed with WEBHOOK_SECRET>`. The time is signed too, so a receiver can
 * refuse an old call replayed at it (docs/api.md shows how to check both).
 */
export function webhookSignature(secret: string, unixSeconds: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}
