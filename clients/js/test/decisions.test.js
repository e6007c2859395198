// Decisions: one at a time, and through the bounded buffer that sends them in order.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { ConsentryHTTPError, GateClient, GateUnavailable } from "../src/index.js";
import { API_KEY, BASE_URL, call, deadUrl, recordingFetch, served, subject } from "./helpers.js";

/** A decision that showed item `n` to the subject, citing its activity. */
function decision(subjectId, n, extra = {}) {
  return {
    subject_id: subjectId, surface: "homepage_hero", channel: "web",
    purpose: "personalization",
    item: { id: `sku-${n}`, label: `Item number ${n}` },
    signals_used: [{ category: "behavioral", summary: `viewed item ${n}` }],
    decided_at: new Date(Date.now() - 60_000 + n * 1000).toISOString(),
    ...extra,
  };
}

/** The label of the item a stored decision showed, read back from the service. */
async function storedItem(subjectId, decisionId) {
  const explanation = await call("GET", `/v1/subjects/${subjectId}/explanations/${decisionId}`);
  return explanation.headline.match(/Item number \d+/)[0];
}

/** The decisions, in order, that the service stored, from the recorded requests. */
function sentItems(requests) {
  return requests.filter((r) => r.method === "POST" && r.status === 201).flatMap((r) =>
    (r.path === "/v1/decisions/batch" ? r.body.decisions : [r.body]).map((d) => d.item.label));
}

describe("decisions", served, () => {
  test("recordDecision stores a decision and judges it", async () => {
    const gate = new GateClient(BASE_URL, API_KEY);
    const id = subject("dec");
    const result = await gate.recordDecision(decision(id, 1));
    assert.equal(result.conformant, true);
    assert.deepEqual(result.violations, []);
    assert.equal(await storedItem(id, result.decision_id), "Item number 1");
    const health = await gate.recordDecision(decision(id, 2, {
      signals_used: [{ category: "health", summary: "bought vitamins" }] }));
    assert.equal(health.conformant, false);
    assert.equal(health.violations[0].category, "health");
    await assert.rejects(gate.recordDecision(decision(id, 3, { purpose: "telepathy" })),
                         (error) => error instanceof ConsentryHTTPError && error.status === 422);
  });

  test("the buffer flushes every N decisions, in the order they were queued", async () => {
    const { fetch, requests } = recordingFetch();
    const flushed = [];
    const gate = new GateClient(BASE_URL, API_KEY, {
      fetch, decisionBatchSize: 2, decisionFlushMs: Infinity,
      onDecisionResults: (results, decisions) => flushed.push(
        ...decisions.map((d, i) => [d.item.label, results[i].decision_id])),
      onDecisionError: (error) => assert.fail(error),
    });
    const id = subject("buf");
    for (const n of [1, 2, 3, 4, 5]) assert.equal(gate.queueDecision(decision(id, n)), true);
    assert.equal(gate.pendingDecisions, 5);
    const results = await gate.close();  // sends the fifth, which waits for no timer
    assert.equal(gate.pendingDecisions, 0);
    const labels = [1, 2, 3, 4, 5].map((n) => `Item number ${n}`);
    assert.deepEqual(sentItems(requests), labels);
    assert.deepEqual(flushed.map(([label]) => label), labels);
    for (const [label, decisionId] of flushed) {
      assert.equal(await storedItem(id, decisionId), label);
    }
    // close() resolves with what it sent itself: here nothing, as the flushes that the
    // second and fourth decision started took the whole queue in batches of two.
    assert.ok(results.every((result) => typeof result.decision_id === "string"));
    const batches = requests.filter((r) => r.path === "/v1/decisions/batch");
    if (batches[0].status === 404) {  // a service without the batch route: one at a time
      assert.equal(batches.length, 1);
      assert.equal(requests.filter((r) => r.path === "/v1/decisions").length, 5);
    } else {
      assert.deepEqual(batches.map((r) => [r.status, r.body.decisions.length]),
                       [[201, 2], [201, 2], [201, 1]]);
    }
    assert.throws(() => gate.queueDecision(decision(id, 6)), /closed/);
  });

  test("the buffer flushes T ms after the first queued decision", async () => {
    const flushed = [];
    const gate = new GateClient(BASE_URL, API_KEY, {
      decisionBatchSize: 100, decisionFlushMs: 50,
      onDecisionResults: (results) => flushed.push(...results),
    });
    const id = subject("timer");
    gate.queueDecision(decision(id, 1));
    gate.queueDecision(decision(id, 2));
    for (let waited = 0; flushed.length < 2 && waited < 5000; waited += 25) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.equal(flushed.length, 2);
    assert.equal(gate.pendingDecisions, 0);
    assert.equal(await storedItem(id, flushed[1].decision_id), "Item number 2");
    await gate.close();
  });

  test("decisions wait out an outage in the queue and go out in order after it", async () => {
    const errors = [];
    const { fetch, requests } = recordingFetch();
    const gate = new GateClient(await deadUrl(), API_KEY, {
      fetch, timeoutMs: 500, decisionBatchSize: 10, decisionFlushMs: Infinity,
      onDecisionError: (error, decisions) => errors.push([error, decisions.length]),
    });
    const id = subject("away");
    for (const n of [1, 2, 3]) gate.queueDecision(decision(id, n));
    assert.deepEqual(await gate.flush(), []);
    assert.equal(gate.pendingDecisions, 3);
    assert.equal(errors.length, 1);
    assert.ok(errors[0][0] instanceof GateUnavailable);
    assert.equal(errors[0][1], 3);
    gate.queueDecision(decision(id, 4));
    gate.baseUrl = BASE_URL;
    requests.length = 0;
    const results = await gate.close();
    assert.equal(results.length, 4);
    assert.deepEqual(sentItems(requests),
                     [1, 2, 3, 4].map((n) => `Item number ${n}`));
    for (const [i, result] of results.entries()) {
      assert.equal(await storedItem(id, result.decision_id), `Item number ${i + 1}`);
    }
  });

  test("a refused decision is reported alone; the others are stored", async () => {
    const refused = [];
    const gate = new GateClient(BASE_URL, API_KEY, {
      decisionFlushMs: Infinity,
      onDecisionError: (error, decisions) => refused.push([error.status, decisions]),
    });
    const id = subject("refused");
    gate.queueDecision(decision(id, 1));
    gate.queueDecision(decision(id, 2, { channel: "carrier-pigeon" }));
    gate.queueDecision(decision(id, 3));
    const results = await gate.close();
    assert.equal(results.length, 3);
    assert.equal(results[1], null);
    assert.equal(await storedItem(id, results[0].decision_id), "Item number 1");
    assert.equal(await storedItem(id, results[2].decision_id), "Item number 3");
    assert.deepEqual(refused.map(([status, decisions]) => [status, decisions.length]),
                     [[422, 1]]);
    assert.equal(refused[0][1][0].item.label, "Item number 2");
  });

  test("the queue is bounded: a decision past the limit is refused and counted", async () => {
    const errors = [];
    const gate = new GateClient(await deadUrl(), API_KEY, {
      decisionQueueLimit: 2, decisionFlushMs: Infinity,
      onDecisionError: (error) => errors.push(error.message),
    });
    const id = subject("full");
    assert.equal(gate.queueDecision(decision(id, 1)), true);
    assert.equal(gate.queueDecision(decision(id, 2)), true);
    assert.equal(gate.queueDecision(decision(id, 3)), false);
    assert.equal(gate.droppedDecisions, 1);
    assert.equal(gate.pendingDecisions, 2);
    assert.match(errors[0], /queue full/);
    assert.throws(() => gate.queueDecision({ loop: 1n }), TypeError);  // not JSON: refused now
  });
});
