// Offline token verification: the served tokens against the served keys, and tokens of our
// own key for what the service never issues (expired, other key ids, other headers).

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  GateClient, KEYS_REFETCH_MS, SignatureError, TOKEN_TYP, TokenExpired, UnknownKeyError,
  importJwks, verifyToken,
} from "../src/index.js";
import { b64url } from "../src/token.js";
import {
  API_KEY, BASE_URL, ISSUER, claims, manualClock, ownSigner, recordingFetch, served, servedTyp,
  subject,
} from "./helpers.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The part of a token re-encoded after `change` edits its decoded JSON text. */
function edited(part, change) {
  const text = decoder.decode(Uint8Array.from(atob(part.replace(/-/g, "+").replace(/_/g, "/")),
                                              (c) => c.charCodeAt(0)));
  return b64url(encoder.encode(change(text)));
}

async function servedToken(t) {
  const gate = new GateClient(BASE_URL, API_KEY);
  const answer = await gate.allowedSignals(subject("tok"), "personalization", "web");
  const jwks = await (await fetch(`${BASE_URL}/.well-known/consentry-keys`)).json();
  return { token: answer.token, answer, jwks, typ: servedTyp(answer.token, t) };
}

describe("served tokens", served, () => {
  test("a served token verifies against the served keys", async (t) => {
    const { token, answer, jwks, typ } = await servedToken(t);
    const verified = await verifyToken(token, { jwks, typ });
    assert.equal(verified.sub, answer.subjectId);
    assert.deepEqual(verified.allowed, answer.allowed);
    assert.equal(verified.policy_version, answer.policyVersion);
    assert.equal(typeof verified.policy_digest, "string");
    assert.equal(verified.exp - verified.iat, answer.maxAge);
    assert.equal(typeof verified.iss, "string");
    assert.deepEqual(await verifyToken(token, { jwks, issuer: verified.iss }), verified);
    await assert.rejects(verifyToken(token, { jwks, issuer: "https://elsewhere.example" }),
                         SignatureError);
  });

  test("a tampered token does not verify", async (t) => {
    const { token, jwks, typ } = await servedToken(t);
    const [header, payload, signature] = token.split(".");
    const keys = await importJwks(jwks);
    const more = edited(payload, (text) => text.replace('"allowed":[', '"allowed":["health",'));
    const flipped = signature.slice(0, 10) + (signature[10] === "A" ? "B" : "A")
      + signature.slice(11);
    for (const forged of [`${header}.${more}.${signature}`, `${header}.${payload}.${flipped}`,
                          `${header}.${payload}.${signature.slice(0, -4)}`,
                          `${header}.${payload}`, `${token}.`]) {
      await assert.rejects(verifyToken(forged, { keys, typ }), (error) =>
        error instanceof SignatureError && !(error instanceof UnknownKeyError));
    }
    assert.ok(await verifyToken(token, { keys, typ }));
  });

  test("a served token is refused once it has expired", async (t) => {
    const { token, jwks, typ } = await servedToken(t);
    const { exp } = await verifyToken(token, { jwks, typ });
    assert.ok(await verifyToken(token, { jwks, typ, now: exp * 1000 - 1 }));
    await assert.rejects(verifyToken(token, { jwks, typ, now: exp * 1000 }), TokenExpired);
  });

  test("an unknown key id fetches the keys again, at most every 5 s", async (t) => {
    const clock = manualClock();
    const { fetch, requests } = recordingFetch();
    const gate = new GateClient(BASE_URL, API_KEY, { clock, fetch, issuer: ISSUER });
    const id = subject("kid");
    const answer = await gate.allowedSignals(id, "personalization", "web");
    servedTyp(answer.token);
    const keyFetches = () => requests.filter((r) => r.path === "/.well-known/consentry-keys")
      .length;
    assert.ok(await gate.verify(answer.token, id, "personalization"));
    assert.equal(keyFetches(), 1);
    const stranger = await ownSigner("not-served");
    const foreign = await stranger.sign(claims());
    await assert.rejects(gate.verify(foreign, "u-1", "personalization"), UnknownKeyError);
    assert.equal(keyFetches(), 1);  // fetched just now: not again
    clock.advance(KEYS_REFETCH_MS);
    await assert.rejects(gate.verify(foreign, "u-1", "personalization"), UnknownKeyError);
    assert.equal(keyFetches(), 2);  // the service may have rotated: asked once more
    await assert.rejects(gate.verify(foreign, "u-1", "personalization"), UnknownKeyError);
    assert.equal(keyFetches(), 2);
    assert.ok(await gate.verify(answer.token, id, "personalization"));  // known keys need no fetch
    assert.equal(keyFetches(), 2);
  });
});

describe("verifyToken", () => {
  test("accepts a well-formed token of a known key and returns its claims", async () => {
    const signer = await ownSigner();
    const token = await signer.sign(claims());
    assert.deepEqual(await verifyToken(token, { jwks: signer.jwks }), JSON.parse(
      decoder.decode(Uint8Array.from(atob(token.split(".")[1].replace(/-/g, "+")
        .replace(/_/g, "/")), (c) => c.charCodeAt(0)))));
    assert.equal((await verifyToken(token, { jwks: signer.jwks,
                                             issuer: "https://consentry.example" })).sub, "u-1");
  });

  test("refuses an expired token", async () => {
    const signer = await ownSigner();
    await assert.rejects(verifyToken(await signer.sign(claims(-1)), { jwks: signer.jwks }),
                         TokenExpired);
  });

  test("refuses a token of another key, and names the key id", async () => {
    const signer = await ownSigner("k-1");
    const other = await ownSigner("k-2");
    await assert.rejects(verifyToken(await other.sign(claims()), { jwks: signer.jwks }),
                         (error) => error instanceof UnknownKeyError && /k-2/.test(error.message));
    // The right key id with another key's signature is a bad signature.
    const impostor = await ownSigner("k-1");
    await assert.rejects(verifyToken(await impostor.sign(claims()), { jwks: signer.jwks }),
                         (error) => error instanceof SignatureError && /bad signature/.test(
                           error.message));
  });

  test("refuses another algorithm, type, a critical header or a missing key id", async () => {
    const signer = await ownSigner();
    const cases = [
      [{ alg: "none" }, /algorithm/], [{ alg: "HS256" }, /algorithm/],
      [{ typ: "JWT" }, /type/], [{ typ: "at+jwt" }, /type/], [{ typ: undefined }, /type/],
      [{ crit: ["exp"] }, /critical/], [{ kid: 7 }, /kid/],
    ];
    for (const [header, message] of cases) {
      await assert.rejects(verifyToken(await signer.sign(claims(), header), { jwks: signer.jwks }),
                           (error) => error instanceof SignatureError && message.test(error.message),
                           JSON.stringify(header));
    }
    // Another type only when asked for (a Consent Mode token is consentry-consent-mode+jwt).
    const mode = await signer.sign(claims(), { typ: "consentry-consent-mode+jwt" });
    assert.ok(await verifyToken(mode, { jwks: signer.jwks, typ: "consentry-consent-mode+jwt" }));
    await assert.rejects(verifyToken(mode, { jwks: signer.jwks }), /type/);
    assert.equal(TOKEN_TYP, "consentry-consent+jwt");
  });

  test("refuses a wrong or missing issuer when one is expected", async () => {
    const signer = await ownSigner();
    const options = { jwks: signer.jwks, issuer: "https://consentry.example" };
    await assert.rejects(verifyToken(await signer.sign(claims(300, {
      iss: "https://evil.example" })), options), /issuer/);
    await assert.rejects(verifyToken(await signer.sign(claims(300, { iss: undefined })), options),
                         /issuer/);
  });

  test("refuses any other spelling of a part and a non-integer exp", async () => {
    const signer = await ownSigner();
    const token = await signer.sign(claims());
    const [header, payload, signature] = token.split(".");
    const padded = `${header}.${payload}.${signature}==`;
    const plus = `${header}.${payload}.+${signature.slice(1)}`;  // base64, not base64url
    // The last character of a 64-byte signature carries 4 unused bits: set one.
    const last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const stray = signature.slice(0, -1) + last[last.indexOf(signature.at(-1)) | 1];
    for (const forged of [padded, plus, `${header}.${payload}.${stray}`, ` ${token}`]) {
      await assert.rejects(verifyToken(forged, { jwks: signer.jwks }), SignatureError, forged);
    }
    for (const exp of ["9999999999", 1e300, 9999999999.5, null]) {
      await assert.rejects(verifyToken(await signer.sign(claims(300, { exp })),
                                       { jwks: signer.jwks }), /exp/);
    }
    await assert.rejects(verifyToken(null, { jwks: signer.jwks }), SignatureError);
  });

  test("leaves keys that are not Ed25519 out of a JWKS", async () => {
    const signer = await ownSigner("ed");
    const keys = await importJwks({ keys: [...signer.jwks.keys,
      { kty: "EC", crv: "P-256", kid: "ec", x: "AA", y: "AA" }] });
    assert.deepEqual([...keys.keys()], ["ed"]);
    await assert.rejects(importJwks({ keys: [{ kty: "OKP", crv: "Ed25519", x: "AA" }] }),
                         /key id/);
    await assert.rejects(importJwks({}), /JWKS/);
  });
});
