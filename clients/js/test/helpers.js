// What the tests share: the served Consentry (from tests/clients/test_js_client.py), a fetch
// that records what the client asked, a port nobody listens on, and a signer of our own.

import { createServer } from "node:net";

import { b64url } from "../src/token.js";

export const BASE_URL = process.env.CONSENTRY_URL;
export const API_KEY = process.env.CONSENTRY_API_KEY;
/** The `iss` of the served tokens (its CONSENTRY_PUBLIC_URL), which is not BASE_URL. */
export const ISSUER = process.env.CONSENTRY_ISSUER;

/** Options for `describe`: skip (and say how to run) without a served Consentry. */
export const served = {
  skip: BASE_URL && API_KEY ? false
    : "needs a served Consentry: run `pytest tests/clients/test_js_client.py`, or set "
      + "CONSENTRY_URL and CONSENTRY_API_KEY (signals:read, preferences:write, "
      + "decisions:write, explanations:read)",
};

/** A subject id no other test uses. */
export function subject(prefix) {
  return `${prefix}-${crypto.randomUUID().slice(0, 12)}`;
}

/** Call the service directly (as a preference center would), not through the client. */
export async function call(method, path, body) {
  const response = await fetch(BASE_URL + path, {
    method,
    headers: { Authorization: `Bearer ${API_KEY}`,
               ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json();
  if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status} ${JSON.stringify(data)}`);
  return data;
}

/** Record a consent write for a subject. */
export function putConsents(subjectId, choices, extra = {}) {
  return call("PUT", `/v1/subjects/${subjectId}/consents`,
              { source: "preference_center", choices, ...extra });
}

/** A fetch that records each request (method, path, parsed JSON body, answer's status). */
export function recordingFetch() {
  const requests = [];
  const wrapped = (url, init = {}) => {
    const { pathname, search } = new URL(url);
    const request = { method: init.method ?? "GET", path: pathname + search, status: null,
                      body: typeof init.body === "string" ? JSON.parse(init.body) : undefined };
    requests.push(request);
    return fetch(url, init).then((response) => {
      request.status = response.status;
      return response;
    });
  };
  return { fetch: wrapped, requests };
}

/** The URL of a port on this machine that nobody listens on. */
export async function deadUrl() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

/** A clock the test moves by hand (milliseconds, like performance.now()). */
export function manualClock(start = 1_000_000) {
  const clock = () => clock.now;
  clock.now = start;
  clock.advance = (ms) => { clock.now += ms; };
  return clock;
}

const encoder = new TextEncoder();

/** An Ed25519 key pair of our own, its JWKS, and a signer of compact JWS with it. */
export async function ownSigner(kid = "test-key") {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
  const { x } = await crypto.subtle.exportKey("jwk", pair.publicKey);
  const jwks = { keys: [{ kty: "OKP", crv: "Ed25519", x, kid, use: "sig", alg: "EdDSA" }] };
  /** Sign `claims` under `header` (defaults: a well-formed consent token header). */
  async function sign(claims, header = {}) {
    const head = b64url(encoder.encode(JSON.stringify(
      { alg: "EdDSA", kid, typ: "consentry-consent+jwt", ...header })));
    const body = b64url(encoder.encode(JSON.stringify(claims)));
    const signature = await crypto.subtle.sign({ name: "Ed25519" }, pair.privateKey,
                                                encoder.encode(`${head}.${body}`));
    return `${head}.${body}.${b64url(new Uint8Array(signature))}`;
  }
  return { jwks, sign, kid };
}

/** Claims of a well-formed consent token, expiring in `ttl` seconds. */
export function claims(ttl = 300, extra = {}) {
  const now = Math.floor(Date.now() / 1000);
  return { sub: "u-1", purpose: "personalization", channel: "web", jurisdiction: "EU",
           allowed: ["behavioral"], limits: {}, policy_version: "v", policy_digest: "d",
           iat: now, exp: now + ttl, iss: "https://consentry.example", ...extra };
}

/**
 * The served token's header says `typ` `consentry-consent+jwt` (RFC 8725), the type the
 * verifier expects by default: so the tests pass no `typ` option (undefined).
 */
export function servedTyp(token) {
  const header = JSON.parse(atob(token.split(".")[0].replace(/-/g, "+").replace(/_/g, "/")));
  if (header.typ !== "consentry-consent+jwt") {
    throw new Error(`the service issued typ ${JSON.stringify(header.typ)}, not consentry-consent+jwt`);
  }
  return undefined;
}
