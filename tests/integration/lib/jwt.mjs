// HS256 (and deliberately wrong) JSON Web Tokens for the auth tests, made
// with node:crypto only.

import crypto from 'node:crypto';

export const base64url = (input) => Buffer.from(input).toString('base64')
  .replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');

export const nowSeconds = () => Math.floor(Date.now() / 1000);

// Signs `claims` with `secret`. `alg` is the header's alg and picks the HMAC
// (HS256 -> sha256, HS384 -> sha384, HS512 -> sha512); alg 'none' gives an
// unsigned token ("header.payload."). `header` adds or overrides header fields.
export function signJwt(claims, secret, { alg = 'HS256', header = {} } = {}) {
  const head = base64url(JSON.stringify({ alg, typ: 'JWT', ...header }));
  const body = base64url(JSON.stringify(claims));
  const input = `${head}.${body}`;
  if (alg === 'none') return `${input}.`;
  const hash = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }[alg];
  if (!hash) throw new Error(`signJwt: no HMAC for alg ${alg}`);
  const signature = crypto.createHmac(hash, secret).update(input).digest();
  return `${input}.${base64url(signature)}`;
}
