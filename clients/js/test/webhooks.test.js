// verifyWebhook: the Standard Webhooks specification's own example verifies, anything
// altered does not, and GateClient.verifyWebhook drops the cached answer of the subject.

import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { describe, test } from "node:test";

import { GateClient, SignatureError, verifyWebhook } from "../src/index.js";
import { API_KEY, BASE_URL, ISSUER, putConsents, served, subject } from "./helpers.js";

// The example of the specification (standard-webhooks, "Verifying webhooks").
const SPEC = {
  secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  headers: { "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
             "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" },
  body: '{"test": 2432232314}',
  now: 1614265330,
};

/** A delivery as Consentry signs one, made with node:crypto (not the WebCrypto path). */
function delivery(secret, data, { extraSecret } = {}) {
  const id = `msg_${randomBytes(8).toString("hex")}`;
  const stamp = String(Math.floor(Date.now() / 1000));
  const body = JSON.stringify({ type: "consent.changed", timestamp: new Date().toISOString(), data });
  const sign = (s) => `v1,${createHmac("sha256", Buffer.from(s.slice(6), "base64"))
    .update(`${id}.${stamp}.${body}`).digest("base64")}`;
  const signatures = [secret, extraSecret].filter(Boolean).map(sign).join(" ");
  return { headers: { "webhook-id": id, "webhook-timestamp": stamp, "webhook-signature": signatures },
           body };
}

describe("verifyWebhook", () => {
  test("the specification's example verifies", async () => {
    const event = await verifyWebhook(SPEC.secret, SPEC.headers, SPEC.body, { now: SPEC.now });
    assert.deepEqual(event, { test: 2432232314 });
  });

  test("an altered body, id, timestamp or secret is refused", async () => {
    const cases = [
      [SPEC.secret, SPEC.headers, '{"test": 2432232315}'],
      [SPEC.secret, { ...SPEC.headers, "webhook-id": "msg_other" }, SPEC.body],
      [SPEC.secret, { ...SPEC.headers, "webhook-timestamp": "1614265331" }, SPEC.body],
      ["whsec_" + randomBytes(24).toString("base64"), SPEC.headers, SPEC.body],
    ];
    for (const [secret, headers, body] of cases) {
      await assert.rejects(verifyWebhook(secret, headers, body, { now: SPEC.now }), SignatureError);
    }
    await assert.rejects(verifyWebhook(SPEC.secret, SPEC.headers, SPEC.body,
                                       { now: SPEC.now + 3600 }), SignatureError);
  });

  test("any one of several signatures (a rotation) is enough", async () => {
    const old = "whsec_" + randomBytes(32).toString("base64");
    const fresh = "whsec_" + randomBytes(32).toString("base64");
    const { headers, body } = delivery(fresh, { subject_id: "x" }, { extraSecret: old });
    assert.equal((await verifyWebhook(old, headers, body)).data.subject_id, "x");
    assert.equal((await verifyWebhook([fresh], headers, body)).data.subject_id, "x");
  });
});

describe("GateClient.verifyWebhook", served, () => {
  test("drops the cached answer of the subject named, and only on a valid signature",
       async () => {
    const id = subject("hook");
    await putConsents(id, [{ purpose: "personalization", status: "granted" }],
                      { jurisdiction: "EU" });
    const gate = new GateClient(BASE_URL, API_KEY, { issuer: ISSUER, syncIntervalMs: 3_600_000 });
    await gate.allowedSignals(id, "personalization");
    assert.notEqual(gate.cached(id, "personalization"), null);
    const secret = "whsec_" + randomBytes(32).toString("base64");
    const { headers, body } = delivery(secret, { subject_id: id, purposes: [] });
    await assert.rejects(gate.verifyWebhook(secret, headers, body.replace(id, `${id}x`)),
                         SignatureError);
    assert.notEqual(gate.cached(id, "personalization"), null);
    const event = await gate.verifyWebhook(secret, headers, body);
    assert.equal(event.data.subject_id, id);
    assert.equal(gate.cached(id, "personalization"), null);
  });
});
