// What a page can learn from its viewer token without asking the server: when it expires.
// A viewer token is `svt.<base64url JSON claims>.<signature>`; the claims carry `exp` (Unix
// seconds), `u` (user) and `t` (tenant). Reading them is only a scheduling hint: the server
// checks the signature and the expiry on every request.

/** The token's claims, or null when it is not a readable viewer token. */
export function decodeClaims(token) {
  const parts = typeof token === 'string' ? token.split('.') : [];
  if (parts.length !== 3 || parts[0] !== 'svt') return null;
  try {
    const base64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === 'object' ? claims : null;
  } catch {
    return null;
  }
}

/**
 * Milliseconds from `now` until a fresh token should be asked for: `lead` before `exp`, at
 * once if that moment has passed, null when the token's expiry cannot be read.
 */
export function refreshDelay(token, now = Date.now(), lead = 60_000) {
  const exp = decodeClaims(token)?.exp;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return null;
  return Math.max(0, exp * 1000 - lead - now);
}
