/**
 * Why a webhook URL is refused, if it is: the service calls it from inside the operator's
 * network, so a caller may name only an origin the operator listed (WEBHOOK_ALLOWED_ORIGINS),
 * never an internal host of its choosing; and no credentials ride in a URL that is stored and shown.
 */
export function webhookUrlRefusal(url: string, allowedOrigins: readonly string[]): string | undefined {
  if (allowedOrigins.length === 0) return 'this service calls no webhooks: WEBHOOK_ALLOWED_ORIGINS is not set';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'webhook_url is not a URL';
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return 'webhook_url must be http(s)';
  if (parsed.username !== '' || parsed.password !== '') return 'webhook_url must not hold credentials';
  if (!allowedOrigins.includes(parsed.origin)) return `the origin ${parsed.origin} is not in WEBHOOK_ALLOWED_ORIGINS`;
  return undefined;
}
