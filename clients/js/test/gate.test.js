// The cached gate against a served Consentry: lookups, the cache, the change feed, max_age,
// and failing closed. Only this file writes consents, so the feed counts are exact.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { ConsentryHTTPError, GateClient, SignatureError } from "../src/index.js";
import {
  API_KEY, BASE_URL, ISSUER, call, deadUrl, manualClock, putConsents, recordingFetch, served,
  servedTyp, subject,
} from "./helpers.js";

const HOUR = 3_600_000;

describe("allowedSignals", served, () => {
  test("answers what the service answers, with a token that verifies", async (t) => {
    const id = subject("look");
    await putConsents(id, [{ purpose: "personalization", category: "location_precise",
                             status: "granted" }], { jurisdiction: "EU" });
    const gate = new GateClient(BASE_URL, API_KEY, { issuer: ISSUER });
    const answer = await gate.allowedSignals(id, "personalization", "web");
    const direct = await call("GET", `/v1/subjects/${id}/allowed-signals?purpose=personalization&channel=web`);
    assert.equal(answer.degraded, false);
    assert.equal(answer.reason, null);
    assert.deepEqual(answer.allowed, direct.allowed);
    assert.ok(answer.allowed.includes("location_precise"));
    assert.deepEqual(answer.denied, direct.denied);
    assert.deepEqual(answer.limits, direct.limits);
    assert.equal(answer.jurisdiction, "EU");
    assert.equal(answer.policyVersion, direct.policy_version);
    assert.equal(answer.maxAge, direct.max_age);
    servedTyp(answer.token);
    const verified = await gate.verify(answer.token, id, "personalization");
    assert.equal(verified.sub, id);
    assert.equal(verified.purpose, "personalization");
    assert.equal(verified.channel, "web");
    assert.deepEqual(verified.allowed, answer.allowed);
  });

  test("an unknown subject gets the jurisdiction's defaults from the service", async () => {
    const gate = new GateClient(BASE_URL, API_KEY);
    const eu = await gate.allowedSignals(subject("never"), "marketing", "email",
                                         { jurisdiction: "EU" });
    assert.equal(eu.degraded, false);
    assert.deepEqual(eu.allowed, []);  // EU marketing needs a grant
    const ca = await gate.allowedSignals(subject("never"), "marketing", "email",
                                         { jurisdiction: "US-CA" });
    assert.ok(ca.allowed.includes("behavioral"));  // opt-out basis
  });

  test("a second lookup is served from the cache, without a request", async () => {
    const { fetch, requests } = recordingFetch();
    const gate = new GateClient(BASE_URL, API_KEY, { fetch, syncIntervalMs: HOUR });
    const id = subject("hit");
    const first = await gate.allowedSignals(id, "personalization", "web");
    assert.deepEqual(requests.map((r) => r.path.split("?")[0]),
                     ["/v1/changes", `/v1/subjects/${id}/allowed-signals`]);
    const second = await gate.allowedSignals(id, "personalization", "web");
    assert.equal(second, first);
    assert.equal(requests.length, 2);
    assert.equal(gate.cached(id, "personalization", "web"), first);
    // Each (purpose, channel, jurisdiction) is its own entry.
    assert.equal(gate.cached(id, "personalization", "app"), null);
    assert.equal(gate.cached(id, "personalization", "web", { jurisdiction: "EU" }), null);
    await gate.allowedSignals(id, "personalization", "web", { jurisdiction: "EU" });
    assert.equal(requests.length, 3);
    assert.throws(() => { first.allowed.push("health"); }, TypeError);  // cached, so frozen
  });

  test("verify checks the issuer by default, and the subject and purpose", async () => {
    const id = subject("iss");
    await putConsents(id, [{ purpose: "personalization", status: "granted" }]);
    const byDefault = new GateClient(BASE_URL, API_KEY);
    assert.equal(byDefault.issuer, BASE_URL);  // never unchecked
    const { token } = await byDefault.allowedSignals(id, "personalization", "web");
    // The service signs as its CONSENTRY_PUBLIC_URL, which is not the address used here.
    await assert.rejects(byDefault.verify(token, id, "personalization"), /issuer/);
    const gate = new GateClient(BASE_URL, API_KEY, { issuer: ISSUER });
    assert.equal((await gate.verify(token, id, "personalization")).sub, id);
    await assert.rejects(gate.verify(token, subject("other"), "personalization"),
                         (error) => error instanceof SignatureError && /subject/.test(error.message));
    await assert.rejects(gate.verify(token, id, "marketing"),
                         (error) => error instanceof SignatureError && /purpose/.test(error.message));
    await assert.rejects(gate.verify(token), TypeError);  // whose, for what: not optional
  });

  test("a request the service refuses answers nothing allowed, degraded", async () => {
    const id = subject("bad");
    await putConsents(id, [{ purpose: "personalization", status: "granted" }]);
    const gate = new GateClient(BASE_URL, API_KEY, { syncIntervalMs: HOUR });
    const refused = await gate.allowedSignals(id, "telepathy", "web");
    assert.equal(refused.degraded, true);
    assert.deepEqual(refused.allowed, []);
    assert.equal(refused.token, null);
    assert.match(refused.reason, /^refused: HTTP 422/);
    const batch = await gate.checkSignals([id, subject("bad")], "telepathy", "web");
    assert.ok([...batch.values()].every((a) => a.degraded && a.allowed.length === 0));
    assert.ok((await gate.allowedSignals(id, "personalization", "web")).allowed
      .includes("behavioral"));
    // A key the service no longer knows: nothing allowed, even with an answer cached.
    gate.apiKey = "csk_not_a_key";
    gate.syncIntervalMs = 0;  // the next lookup syncs first, and the sync is refused
    const revoked = await gate.allowedSignals(id, "personalization", "web");
    assert.equal(revoked.degraded, true);
    assert.deepEqual(revoked.allowed, []);
    assert.match(revoked.reason, /^refused: HTTP 401/);
  });

  test("with throwOnRefusal a refused request rejects instead", async () => {
    const gate = new GateClient(BASE_URL, API_KEY, { throwOnRefusal: true });
    await assert.rejects(gate.allowedSignals(subject("bad"), "telepathy", "web"),
                         (error) => error instanceof ConsentryHTTPError && error.status === 422);
    await assert.rejects(gate.checkSignals([subject("bad")], "telepathy", "web"),
                         (error) => error instanceof ConsentryHTTPError && error.status === 422);
    const stranger = new GateClient(BASE_URL, "csk_not_a_key", { throwOnRefusal: true });
    await assert.rejects(stranger.allowedSignals(subject("bad"), "personalization", "web"),
                         (error) => error instanceof ConsentryHTTPError && error.status === 401);
  });
});

describe("the change feed keeps the cache exact", served, () => {
  test("sync() drops exactly the subjects a consent write changed", async () => {
    const gate = new GateClient(BASE_URL, API_KEY, { syncIntervalMs: HOUR });
    assert.equal(await gate.sync(), 0);  // the first sync learns the head
    const changed = subject("feed");
    const untouched = subject("feed");
    await putConsents(changed, [{ purpose: "personalization", status: "granted" }]);
    const before = await gate.allowedSignals(changed, "personalization", "web");
    assert.ok(before.allowed.includes("behavioral"));
    await gate.allowedSignals(untouched, "personalization", "web");
    assert.notEqual(gate.cached(changed, "personalization", "web"), null);
    await putConsents(changed, [{ purpose: "personalization", status: "denied" }]);
    // Cached until the next sync: the answer is at most syncIntervalMs stale.
    assert.equal(await gate.allowedSignals(changed, "personalization", "web"), before);
    assert.equal(await gate.sync(), 2);  // both writes since the head it started from
    assert.equal(gate.cached(changed, "personalization", "web"), null);
    assert.notEqual(gate.cached(untouched, "personalization", "web"), null);
    const after = await gate.allowedSignals(changed, "personalization", "web");
    assert.deepEqual(after.allowed, []);
    assert.equal(await gate.sync(), 0);
  });

  test("a lookup syncs first once syncIntervalMs has passed", async () => {
    const clock = manualClock();
    const gate = new GateClient(BASE_URL, API_KEY, { clock, syncIntervalMs: 1000 });
    const id = subject("interval");
    await putConsents(id, [{ purpose: "analytics", status: "granted" }]);
    assert.ok((await gate.allowedSignals(id, "analytics")).allowed.includes("behavioral"));
    await putConsents(id, [{ purpose: "analytics", status: "withdrawn" }]);
    clock.advance(999);
    assert.ok((await gate.allowedSignals(id, "analytics")).allowed.includes("behavioral"));
    clock.advance(2);
    assert.deepEqual((await gate.allowedSignals(id, "analytics")).allowed, []);
  });

  test("an answer on its way while the feed drops its subject is returned, not cached",
       async () => {
    let release;
    const held = new Promise((resolve) => { release = resolve; });
    const slowFetch = async (url, init) => {
      const response = await fetch(url, init);
      if (url.includes("/allowed-signals")) await held;
      return response;
    };
    const gate = new GateClient(BASE_URL, API_KEY, { fetch: slowFetch, syncIntervalMs: HOUR });
    await gate.sync();
    const id = subject("race");
    await putConsents(id, [{ purpose: "personalization", status: "granted" }]);
    await gate.sync();
    const lookup = gate.allowedSignals(id, "personalization", "web");
    await new Promise((resolve) => setTimeout(resolve, 200));  // the service has answered
    await putConsents(id, [{ purpose: "personalization", status: "denied" }]);
    assert.equal(await gate.sync(), 1);
    release();
    const answer = await lookup;
    assert.ok(answer.allowed.includes("behavioral"));  // what the service said then
    assert.equal(gate.cached(id, "personalization", "web"), null);  // but not kept
    assert.deepEqual((await gate.allowedSignals(id, "personalization", "web")).allowed, []);
  });

  test("a cached answer expires after the max_age the service gave", async () => {
    const clock = manualClock();
    const { fetch, requests } = recordingFetch();
    const gate = new GateClient(BASE_URL, API_KEY, { clock, fetch, syncIntervalMs: Infinity });
    const id = subject("age");
    const answer = await gate.allowedSignals(id, "personalization", "web");
    assert.equal(answer.maxAge, 300);  // the shipped policy's token lifetime
    clock.advance(299_999);
    assert.equal(gate.cached(id, "personalization", "web"), answer);
    clock.advance(1);
    assert.equal(gate.cached(id, "personalization", "web"), null);
    const asked = requests.length;
    await gate.allowedSignals(id, "personalization", "web");
    assert.equal(requests.length, asked + 1);
  });

  test("expired answers are swept once the cache has grown, so it holds what is live",
       async () => {
    const clock = manualClock();
    const gate = new GateClient(BASE_URL, API_KEY, { clock, syncIntervalMs: Infinity });
    gate._sweepAt = 16;  // the first sweep at 16 answers instead of 1,024: 17 requests
    const prefix = subject("sweep");
    await Promise.all(Array.from({ length: 16 }, (_, i) =>
      gate.allowedSignals(`${prefix}-${i}`, "analytics")));
    assert.equal(gate.cacheSize, 16);  // not swept yet
    clock.advance(300_000);  // every answer has expired
    await gate.allowedSignals(`${prefix}-new`, "analytics");
    assert.equal(gate.cacheSize, 1);  // the 17th swept the expired ones
    assert.equal(gate.cached(`${prefix}-new`, "analytics")?.subjectId, `${prefix}-new`);
  });
});

describe("fail closed", served, () => {
  test("a service that cannot be reached allows nothing, marked degraded", async () => {
    const gate = new GateClient(await deadUrl(), API_KEY, { timeoutMs: 500 });
    for (const jurisdiction of ["EU", "US-CA", null]) {
      const answer = await gate.allowedSignals("u-1", "personalization", "web",
                                               { jurisdiction });
      assert.equal(answer.degraded, true);
      assert.match(answer.reason, /unreachable/);
      assert.deepEqual(answer.allowed, []);  // never the jurisdiction's defaults
      assert.equal(answer.token, null);
    }
    const batch = await gate.checkSignals(["u-1", "u-2"], "marketing", "email");
    assert.deepEqual([...batch.values()].map((a) => [a.degraded, a.allowed.length]),
                     [[true, 0], [true, 0]]);
  });

  test("a cached answer is served through an outage until its max_age", async () => {
    const clock = manualClock();
    const gate = new GateClient(BASE_URL, API_KEY, { clock, syncIntervalMs: 0,
                                                     timeoutMs: 500 });
    const id = subject("outage");
    await putConsents(id, [{ purpose: "personalization", category: "behavioral",
                             status: "denied" }]);
    const fresh = await gate.allowedSignals(id, "personalization", "web");
    assert.ok(fresh.allowed.length && !fresh.allowed.includes("behavioral"));
    gate.baseUrl = await deadUrl();  // the service goes away; the sync fails too
    clock.advance(1);
    const during = await gate.allowedSignals(id, "personalization", "web");
    assert.equal(during.degraded, true);
    assert.match(during.reason, /unreachable/);
    assert.deepEqual(during.allowed, fresh.allowed);  // the denial still holds
    assert.equal(gate.cached(id, "personalization", "web"), fresh);  // the cache is kept
    clock.advance(300_000);  // past the max_age the service gave
    const expired = await gate.allowedSignals(id, "personalization", "web");
    assert.equal(expired.degraded, true);
    assert.deepEqual(expired.allowed, []);
    gate.baseUrl = BASE_URL;  // back: answers are exact again
    const back = await gate.allowedSignals(id, "personalization", "web");
    assert.equal(back.degraded, false);
    assert.deepEqual(back.allowed, fresh.allowed);
  });
});

describe("checkSignals", served, () => {
  test("answers each subject as a single lookup does", async () => {
    const gate = new GateClient(BASE_URL, API_KEY);
    const granted = subject("batch");
    const denied = subject("batch");
    const unknown = subject("batch");
    await putConsents(granted, [{ purpose: "advertising", status: "granted" }],
                      { jurisdiction: "EU" });
    await putConsents(denied, [{ purpose: "advertising", status: "denied" }],
                      { jurisdiction: "US-CA" });
    const batch = await gate.checkSignals([granted, denied, unknown, granted], "advertising",
                                          "web");
    assert.deepEqual([...batch.keys()], [granted, denied, unknown]);
    for (const id of [granted, denied, unknown]) {
      const single = await gate.allowedSignals(id, "advertising", "web");
      assert.equal(batch.get(id).degraded, false);
      assert.deepEqual(batch.get(id).allowed, single.allowed);
      assert.deepEqual(batch.get(id).denied, single.denied);
      assert.equal(batch.get(id).jurisdiction, single.jurisdiction);
    }
    assert.ok(batch.get(granted).allowed.includes("behavioral"));
    assert.deepEqual(batch.get(denied).allowed, []);
  });
});
