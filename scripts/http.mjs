// Tiny HTTP client for shell scripts (node is on every machine that runs Ephemera; curl may not be).
//   node scripts/http.mjs URL [BODY]   prints the body; exits 0 only on a 2xx answer.
//   EPHEMERA_KEY=<key> sends it as a bearer token.
const [url, body] = process.argv.slice(2);
process.exitCode = 1; // until an answer proves otherwise
const timer = setTimeout(() => process.exit(1), 30_000); // also keeps the process alive while undici waits
try {
  const headers = process.env.EPHEMERA_KEY ? { authorization: `Bearer ${process.env.EPHEMERA_KEY}` } : {};
  const res = await fetch(url, body === undefined ? { headers } : { method: 'POST', body, headers });
  process.stdout.write(await res.text());
  process.exitCode = res.ok ? 0 : 1;
} catch {
  process.exitCode = 1;
}
clearTimeout(timer);
