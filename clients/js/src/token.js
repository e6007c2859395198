/**
 * Offline verification of Consentry's consent tokens with WebCrypto (Ed25519) only.
 *
 * A token is a compact JWS: header `{"alg": "EdDSA", "kid", "typ": "consentry-consent+jwt"}`,
 * claims `sub`, `purpose`, `channel`, `jurisdiction`, `allowed`, `limits`, `policy_version`,
 * `policy_digest`, `iat`, `exp` (Unix seconds) and `iss` (the deployment's URL). Every part
 * must be canonical unpadded base64url, so a token has one spelling only, as the service's
 * own verifier (consentry/signing.py) demands.
 */

import { SignatureError, TokenExpired, UnknownKeyError } from "./errors.js";

/** The `typ` of a consent token (RFC 8725: an explicit type). */
export const TOKEN_TYP = "consentry-consent+jwt";

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const textDecoder = new TextDecoder("utf-8", { fatal: true });
const textEncoder = new TextEncoder();

/** Encode bytes as unpadded base64url. @param {Uint8Array} bytes */
export function b64url(bytes) {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * Decode canonical unpadded base64url; SignatureError for any other spelling.
 * @param {string} text @param {string} what
 */
export function b64urlDecode(text, what) {
  if (typeof text !== "string" || !BASE64URL.test(text) || text.length % 4 === 1) {
    throw new SignatureError(`malformed token ${what}: not base64url`);
  }
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  if (b64url(bytes) !== text) {  // stray bits in the last character: another spelling
    throw new SignatureError(`malformed token ${what}: not canonical base64url`);
  }
  return bytes;
}

/** @param {string} part @param {string} what @returns {Record<string, any>} */
function jsonObject(part, what) {
  let value;
  try {
    value = JSON.parse(textDecoder.decode(b64urlDecode(part, what)));
  } catch (error) {
    if (error instanceof SignatureError) throw error;
    throw new SignatureError(`malformed token ${what}: not UTF-8 JSON`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new SignatureError(`malformed token ${what}: not a JSON object`);
  }
  return value;
}

/**
 * Index a JWKS document (or a list of JWKs) by key id, as WebCrypto keys.
 * Keys that are not Ed25519 are left out: a token naming one cannot verify here.
 * @param {{keys: object[]} | object[]} jwks
 * @returns {Promise<Map<string, CryptoKey>>}
 */
export async function importJwks(jwks) {
  const keys = Array.isArray(jwks) ? jwks : jwks?.keys;
  if (!Array.isArray(keys)) throw new SignatureError("not a JWKS document");
  const indexed = new Map();
  for (const jwk of keys) {
    if (!jwk || typeof jwk.kid !== "string") throw new SignatureError("a JWK without a key id");
    if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.x !== "string") continue;
    if (jwk.alg !== undefined && jwk.alg !== "EdDSA") continue;
    let key;
    try {
      b64urlDecode(jwk.x, "key");
      key = await crypto.subtle.importKey(
        "jwk", { kty: "OKP", crv: "Ed25519", x: jwk.x }, { name: "Ed25519" }, false, ["verify"]);
    } catch {
      throw new SignatureError(`not an Ed25519 JWK: bad x (kid ${JSON.stringify(jwk.kid)})`);
    }
    indexed.set(jwk.kid, key);
  }
  return indexed;
}

/**
 * Return the token's claims if it is a consent token, signed by a key of `keys`, not
 * expired and (when `issuer` is given) issued by `issuer`; else throw a SignatureError
 * (`UnknownKeyError` for a key id the keys lack, `TokenExpired` after `exp`).
 *
 * @param {string} token
 * @param {{keys?: Map<string, CryptoKey>, jwks?: object, issuer?: string, now?: number,
 *          typ?: string}} options `keys` from importJwks, or the `jwks` document itself;
 *   `now` in milliseconds since the epoch; `typ` to accept another header type (only for a
 *   service that still issues `"JWT"`)
 * @returns {Promise<Record<string, any>>}
 */
export async function verifyToken(token, options = {}) {
  const keys = options.keys ?? (options.jwks ? await importJwks(options.jwks) : null);
  if (!keys) throw new TypeError("verifyToken needs `keys` or `jwks`");
  const parts = typeof token === "string" ? token.split(".") : [];
  if (parts.length !== 3) throw new SignatureError("malformed token: not three dot-separated parts");
  const [headerPart, payloadPart, signaturePart] = parts;
  const header = jsonObject(headerPart, "header");
  if (header.alg !== "EdDSA") throw new SignatureError("unsupported algorithm");
  if (header.typ !== (options.typ ?? TOKEN_TYP)) throw new SignatureError("unsupported token type");
  if ("crit" in header) throw new SignatureError("unsupported critical header");
  if (typeof header.kid !== "string") {
    throw new SignatureError("malformed token header: kid is not a string");
  }
  const key = keys.get(header.kid);
  if (!key) throw new UnknownKeyError(`unknown key id ${JSON.stringify(header.kid)}`);
  const signature = b64urlDecode(signaturePart, "signature");
  b64urlDecode(payloadPart, "payload");
  const signed = textEncoder.encode(`${headerPart}.${payloadPart}`);
  let good = false;
  try {
    good = await crypto.subtle.verify({ name: "Ed25519" }, key, signature, signed);
  } catch {  // a signature of the wrong length, for one
    good = false;
  }
  if (!good) throw new SignatureError("bad signature");
  const claims = jsonObject(payloadPart, "payload");
  if (!Number.isSafeInteger(claims.exp)) {
    throw new SignatureError("malformed token: exp is not an integer");
  }
  if ((options.now ?? Date.now()) >= claims.exp * 1000) throw new TokenExpired("token expired");
  if (options.issuer !== undefined && claims.iss !== options.issuer) {
    throw new SignatureError(`wrong issuer ${JSON.stringify(claims.iss)}`);
  }
  return claims;
}
