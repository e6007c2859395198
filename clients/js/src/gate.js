/**
 * An engine's client for Consentry's signal gate, with a local cache kept exact by the
 * change feed; the same behaviour as the Python client (clients/python/consentry_client).
 *
 *     const gate = new GateClient("http://consentry:8000", apiKey);
 *     const answer = await gate.allowedSignals("u-42", "personalization", "web");
 *     answer.allowed, answer.denied, answer.degraded
 *
 * Answers are cached per (subject, purpose, channel, jurisdiction). `sync()` follows
 * `/v1/changes` and drops the cached answers of every subject that changed; it runs before
 * a lookup when the last sync is older than `syncIntervalMs`, so a cached answer is never
 * older than that. A cached answer also expires after the `max_age` the service gave it.
 * **It fails closed.** While the service cannot be reached (a lookup or a sync fails), a
 * cached answer is still served until its `max_age` runs out, marked `degraded`; a subject
 * with no valid cached answer gets nothing allowed (also `degraded`). A lookup the service
 * refuses (a 4xx: a revoked key, a missing scope, an unknown purpose) answers nothing
 * allowed, `degraded`, with the refusal as its `reason`, unless the client was made with
 * `throwOnRefusal: true`, when it rejects with ConsentryHTTPError. The cache is never
 * dropped because the service is away, and the client never guesses from defaults.
 *
 * `verify(token, subjectId, purpose)` checks a token offline: signed by the published keys,
 * unexpired, issued by `issuer` (by default the base URL: pass the deployment's
 * `CONSENTRY_PUBLIC_URL` when the client reaches it by another address), and for the
 * subject and purpose the caller expects.
 *
 * `verifyWebhook(secrets, headers, body)` checks a webhook from the service (Standard
 * Webhooks) and drops the cached answers of the subject it names, at once.
 *
 * Needs only `fetch`, `AbortSignal.timeout` and WebCrypto: Node 20 or any edge runtime.
 */

import {
  ConsentryHTTPError, GateUnavailable, SignatureError, UnknownKeyError,
} from "./errors.js";
import { importJwks, verifyToken } from "./token.js";
import { verifyWebhook } from "./webhooks.js";

/** Seconds an answer is cached when the service does not say (as the Python client). */
export const DEFAULT_MAX_AGE = 300;
/** The least time between two fetches of the keys for an unknown key id. */
export const KEYS_REFETCH_MS = 5000;
/** The most subjects (`/v1/signals/check`) or decisions (`/v1/decisions/batch`) in one call. */
export const MAX_BATCH = 1000;
const FEED_PAGE = 1000;
const SWEEP_FLOOR = 1024;  // the cache size below which expired answers are not swept

/**
 * @typedef {{category: string, reason: string}} Denial
 * @typedef {{
 *   subjectId: string, purpose: string, channel: string | null,
 *   jurisdiction: string | null, allowed: readonly string[], denied: readonly Denial[],
 *   limits: Record<string, {max_signal_age_days?: number | null,
 *                           decay_after_days?: number | null}>,
 *   policyVersion: string, evaluatedAt: string | null, maxAge: number | null,
 *   token: string | null, degraded: boolean, reason: string | null
 * }} Answer
 */

/** @param {string} subjectId @param {string} purpose @param {string | null} channel
 *  @param {string | null} jurisdiction */
function cacheKey(subjectId, purpose, channel, jurisdiction) {
  // NUL never appears in an id (the service refuses it), so the key is unambiguous.
  return `${subjectId}\0${purpose}\0${channel ?? ""}\0${jurisdiction ?? ""}`;
}

/** @param {Answer} answer @returns {Answer} */
function frozen(answer) {
  Object.freeze(answer.allowed);
  answer.denied.forEach(Object.freeze);
  Object.freeze(answer.denied);
  return Object.freeze(answer);
}

/** The answer of the service as an Answer; GateUnavailable when it is not one. */
function answerFrom(body, subjectId, purpose, channel, token = body?.token ?? null) {
  if (!body || !Array.isArray(body.allowed) || !Array.isArray(body.denied)) {
    throw new GateUnavailable("service gave a malformed answer");
  }
  return frozen({
    subjectId, purpose, channel, jurisdiction: body.jurisdiction ?? null,
    allowed: [...body.allowed],
    denied: body.denied.map((d) => ({ category: d.category, reason: d.reason })),
    limits: body.limits ?? {}, policyVersion: body.policy_version ?? "",
    evaluatedAt: body.evaluated_at ?? null, maxAge: body.max_age ?? null, token,
    degraded: false, reason: null,
  });
}

/** Why a request failed, in a few words (undici hides the socket error in `cause`). */
function why(error) {
  const code = error?.cause?.code ?? error?.code;
  const message = error?.name === "TimeoutError" ? "timed out" : (error?.message ?? String(error));
  return code && !message.includes(code) ? `${message} (${code})` : message;
}

/** A cached, fail-closed client of Consentry's signal gate, with a decision buffer. */
export class GateClient {
  /**
   * @param {string} baseUrl the service, e.g. `http://consentry:8000`
   * @param {string} apiKey a key with `signals:read` (and `decisions:write` for decisions)
   * @param {import("../index.js").GateClientOptions} [options]
   */
  constructor(baseUrl, apiKey, options = {}) {
    this.baseUrl = String(baseUrl).replace(/\/+$/, "");
    this.apiKey = apiKey;
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.syncIntervalMs = options.syncIntervalMs ?? 1000;
    // `verify` checks each token's `iss` against it: never unchecked.
    this.issuer = options.issuer ?? this.baseUrl;
    this.throwOnRefusal = options.throwOnRefusal ?? false;
    this._fetch = options.fetch ?? ((url, init) => globalThis.fetch(url, init));
    this._clock = options.clock ?? (() => performance.now());
    /** @type {Map<string, {answer: Answer, expires: number}>} */
    this._answers = new Map();
    /** @type {Map<string, Set<string>>} */
    this._bySubject = new Map();
    /** Lookups in flight per subject; `stale` once a sync dropped the subject meanwhile. */
    this._inFlight = new Map();
    this._sweepAt = SWEEP_FLOOR;
    this._cursor = null;
    this._lastSync = -Infinity;
    this._syncing = null;
    this._keys = null;
    this._keysFetched = -Infinity;
    this._keysFetching = null;
    this._decisions = new DecisionBuffer(this, options);
  }

  // -- HTTP --------------------------------------------------------------------------
  /**
   * One request; the parsed JSON answer. GateUnavailable when the service cannot be
   * reached, times out, answers 429 or 5xx, or answers 2xx with something not JSON;
   * ConsentryHTTPError for any other 4xx.
   */
  async _request(method, path, body, headers = {}) {
    const init = {
      method,
      headers: { Authorization: `Bearer ${this.apiKey}`, Accept: "application/json", ...headers },
      signal: AbortSignal.timeout(this.timeoutMs),
    };
    if (body !== undefined) {  // a string is JSON already (the decision buffer's batches)
      init.headers["Content-Type"] = "application/json";
      init.body = typeof body === "string" ? body : JSON.stringify(body);
    }
    let response;
    let text;
    try {
      response = await this._fetch(this.baseUrl + path, init);
      text = await response.text();
    } catch (error) {
      throw new GateUnavailable(`service unreachable: ${why(error)}`, { cause: error });
    }
    if (response.status >= 500 || response.status === 429) {
      throw new GateUnavailable(`service unavailable: HTTP ${response.status}`,
                                { status: response.status });
    }
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (error) {
      if (response.ok) throw new GateUnavailable("service answered with something not JSON");
    }
    if (!response.ok) throw new ConsentryHTTPError(response.status, data);
    return data;
  }

  // -- cache -------------------------------------------------------------------------
  /**
   * Follow the change feed; drop cached answers of changed subjects. Resolves with the
   * number of changes seen. The first sync only learns the feed's head (and empties the
   * cache: nothing cached before the head was known can be trusted).
   * @returns {Promise<number>}
   */
  async sync() {
    while (this._syncing) await this._syncing.catch(() => {});
    return this._startSync();
  }

  _startSync() {
    this._syncing = this._followFeed().finally(() => { this._syncing = null; });
    return this._syncing;
  }

  async _followFeed() {
    const started = this._clock();
    if (this._cursor === null) {
      const head = await this._request("GET", "/v1/changes?after=head");
      if (typeof head?.next !== "string") {
        throw new GateUnavailable("service gave a malformed change feed page");
      }
      this._cursor = head.next;
      this._lastSync = started;
      this._answers.clear();
      this._bySubject.clear();
      for (const pending of this._inFlight.values()) pending.stale = true;
      return 0;
    }
    let seen = 0;
    for (;;) {
      const query = new URLSearchParams({ after: this._cursor, limit: String(FEED_PAGE) });
      const page = await this._request("GET", `/v1/changes?${query}`);
      if (!page || !Array.isArray(page.changes) || typeof page.next !== "string") {
        throw new GateUnavailable("service gave a malformed change feed page");
      }
      for (const change of page.changes) this._drop(change.subject_id);
      seen += page.changes.length;
      this._cursor = page.next;
      if (page.changes.length < FEED_PAGE) break;
    }
    this._lastSync = started;
    return seen;
  }

  /** Forget expired answers, so the cache holds what is live (amortized: it runs when the
   *  cache has doubled since the last sweep). */
  _sweep() {
    const now = this._clock();
    for (const [key, { answer, expires }] of this._answers) {
      if (expires > now) continue;
      this._answers.delete(key);
      const keys = this._bySubject.get(answer.subjectId);
      keys?.delete(key);
      if (keys?.size === 0) this._bySubject.delete(answer.subjectId);
    }
    this._sweepAt = Math.max(SWEEP_FLOOR, 2 * this._answers.size);
  }

  /** Verify a Consentry webhook (`verifyWebhook`), then drop the cached answers of the
   *  subject it names, as the change feed would; resolve to the event. A delivery that
   *  does not verify rejects (SignatureError) and drops nothing. */
  async verifyWebhook(secrets, headers, body, options) {
    const event = await verifyWebhook(secrets, headers, body, options);
    const subjectId = event?.data?.subject_id;
    if (typeof subjectId === "string") this._drop(subjectId);
    return event;
  }

  _drop(subjectId) {
    for (const key of this._bySubject.get(subjectId) ?? []) this._answers.delete(key);
    this._bySubject.delete(subjectId);
    const pending = this._inFlight.get(subjectId);
    if (pending) pending.stale = true;
  }

  /**
   * The cached answer, if any and not expired (no request, no sync).
   * @param {string} subjectId @param {string} purpose @param {string | null} [channel]
   * @param {{jurisdiction?: string | null}} [options]
   * @returns {Answer | null}
   */
  cached(subjectId, purpose, channel = null, { jurisdiction = null } = {}) {
    const hit = this._answers.get(cacheKey(subjectId, purpose, channel, jurisdiction));
    return hit && hit.expires > this._clock() ? hit.answer : null;
  }

  /** How many answers the cache holds (expired ones until they are swept). */
  get cacheSize() {
    return this._answers.size;
  }

  /**
   * Which categories may be used; from the cache when fresh, else from the service.
   * Never rejects because the service is away: that answer is `degraded` (fail closed).
   * @param {string} subjectId @param {string} purpose @param {string | null} [channel]
   * @param {{jurisdiction?: string | null}} [options]
   * @returns {Promise<Answer>}
   */
  async allowedSignals(subjectId, purpose, channel = null, { jurisdiction = null } = {}) {
    const key = cacheKey(subjectId, purpose, channel, jurisdiction);
    const now = this._clock();
    let pending;
    try {
      if (now - this._lastSync > this.syncIntervalMs) await (this._syncing ?? this._startSync());
      const hit = this._answers.get(key);  // the hot path: one lookup, one clock read
      if (hit && hit.expires > now) return hit.answer;
      const query = new URLSearchParams({ purpose });
      if (channel) query.set("channel", channel);
      if (jurisdiction) query.set("jurisdiction", jurisdiction);
      pending = this._inFlight.get(subjectId) ?? { count: 0, stale: false };
      pending.count += 1;
      this._inFlight.set(subjectId, pending);
      const body = await this._request(
        "GET", `/v1/subjects/${encodeURIComponent(subjectId)}/allowed-signals?${query}`);
      const answer = answerFrom(body, subjectId, purpose, channel);
      const maxAge = Number(body.max_age ?? DEFAULT_MAX_AGE);
      // An answer the feed said changed while it was on its way is returned, not cached.
      if (!pending.stale && maxAge > 0) {
        this._answers.set(key, { answer, expires: this._clock() + maxAge * 1000 });
        if (!this._bySubject.has(subjectId)) this._bySubject.set(subjectId, new Set());
        this._bySubject.get(subjectId).add(key);
        if (this._answers.size > this._sweepAt) this._sweep();
      }
      return answer;
    } catch (error) {
      if (error instanceof GateUnavailable) {
        return this.unavailable(subjectId, purpose, channel, jurisdiction, error.message);
      }
      if (error instanceof ConsentryHTTPError && !this.throwOnRefusal) {
        return this.refused(subjectId, purpose, channel, jurisdiction, error);
      }
      throw error;
    } finally {
      if (pending && --pending.count === 0) this._inFlight.delete(subjectId);
    }
  }

  /**
   * Fail closed: the cached answer while its max_age lasts, else nothing allowed; either
   * way marked degraded.
   * @returns {Answer}
   */
  unavailable(subjectId, purpose, channel, jurisdiction, reason) {
    const hit = this.cached(subjectId, purpose, channel, { jurisdiction });
    if (hit) return Object.freeze({ ...hit, degraded: true, reason });
    return frozen({
      subjectId, purpose, channel, jurisdiction: jurisdiction ?? null, allowed: [], denied: [],
      limits: {}, policyVersion: "", evaluatedAt: null, maxAge: null, token: null,
      degraded: true, reason,
    });
  }

  /**
   * Fail closed on a refusal (4xx): nothing allowed, degraded, the cache not consulted (a
   * revoked key must not go on being answered from it).
   * @returns {Answer}
   */
  refused(subjectId, purpose, channel, jurisdiction, error) {
    return frozen({
      subjectId, purpose, channel, jurisdiction: jurisdiction ?? null, allowed: [], denied: [],
      limits: {}, policyVersion: "", evaluatedAt: null, maxAge: null, token: null,
      degraded: true, reason: `refused: ${error.message}`,
    });
  }

  /**
   * Batch check (`POST /v1/signals/check`, 1,000 subjects a call): one answer per subject,
   * without tokens. Always asks the service and leaves the cache as it is; while the service
   * is away each subject gets what `unavailable` gives (fail closed).
   * @param {Iterable<string>} subjectIds @param {string} purpose @param {string | null} [channel]
   * @param {{jurisdiction?: string | null, categories?: string[] | null}} [options]
   * @returns {Promise<Map<string, Answer>>}
   */
  async checkSignals(subjectIds, purpose, channel = null,
                     { jurisdiction = null, categories = null } = {}) {
    const subjects = [...new Set(subjectIds)];
    const answers = new Map();
    for (let start = 0; start < subjects.length; start += MAX_BATCH) {
      const chunk = subjects.slice(start, start + MAX_BATCH);
      let body;
      try {
        body = await this._request("POST", "/v1/signals/check", {
          purpose, channel, jurisdiction, subjects: chunk,
          ...(categories ? { categories } : {}),
        });
        if (!body || typeof body.results !== "object") {
          throw new GateUnavailable("service gave a malformed answer");
        }
        for (const subject of chunk) {
          const result = body.results[subject];
          answers.set(subject, answerFrom(
            { ...result, policy_version: body.policy_version, evaluated_at: body.evaluated_at },
            subject, purpose, channel, null));
        }
      } catch (error) {
        if (error instanceof ConsentryHTTPError && !this.throwOnRefusal) {
          for (const subject of chunk) {
            answers.set(subject, this.refused(subject, purpose, channel, jurisdiction, error));
          }
          continue;
        }
        if (!(error instanceof GateUnavailable)) throw error;
        for (const subject of subjects.slice(start)) {
          answers.set(subject,
                      this.unavailable(subject, purpose, channel, jurisdiction, error.message));
        }
        break;
      }
    }
    return answers;
  }

  // -- tokens ------------------------------------------------------------------------
  async _fetchKeys() {
    if (!this._keysFetching) {
      this._keysFetching = (async () => {
        const response = await this._fetch(`${this.baseUrl}/.well-known/consentry-keys`,
                                           { signal: AbortSignal.timeout(this.timeoutMs) });
        if (!response.ok) {
          throw new GateUnavailable(`keys unavailable: HTTP ${response.status}`,
                                    { status: response.status });
        }
        this._keys = await importJwks(await response.json());
        this._keysFetched = this._clock();
        return this._keys;
      })().catch((error) => {
        throw error instanceof GateUnavailable ? error
          : new GateUnavailable(`keys unavailable: ${why(error)}`, { cause: error });
      }).finally(() => { this._keysFetching = null; });
    }
    return this._keysFetching;
  }

  /**
   * Verify a consent token offline; resolves with its claims: signed by the service's keys,
   * unexpired, issued by `issuer`, and for `subjectId` and `purpose` (a SignatureError for a
   * token about anyone or anything else). The keys are fetched once, and again for a key
   * id they lack (the service rotated its key), at most every KEYS_REFETCH_MS.
   * @param {string} token @param {string} subjectId @param {string} purpose
   * @returns {Promise<Record<string, any>>}
   */
  async verify(token, subjectId, purpose) {
    if (typeof subjectId !== "string" || typeof purpose !== "string") {
      throw new TypeError("verify(token, subjectId, purpose): say whose token, for what");
    }
    const options = { issuer: this.issuer };
    const keys = this._keys ?? await this._fetchKeys();
    let claims;
    try {
      claims = await verifyToken(token, { keys, ...options });
    } catch (error) {
      if (!(error instanceof UnknownKeyError)
          || this._clock() - this._keysFetched < KEYS_REFETCH_MS) throw error;
      claims = await verifyToken(token, { keys: await this._fetchKeys(), ...options });
    }
    if (claims.sub !== subjectId) {
      throw new SignatureError(`token for another subject ${JSON.stringify(claims.sub)}`);
    }
    if (claims.purpose !== purpose) {
      throw new SignatureError(`token for another purpose ${JSON.stringify(claims.purpose)}`);
    }
    return claims;
  }

  // -- decisions ---------------------------------------------------------------------
  /**
   * Record one decision now (`POST /v1/decisions`).
   * @param {object} decision shaped as API.md's `POST /v1/decisions`
   * @param {{idempotencyKey?: string}} [options]
   * @returns {Promise<{decision_id: string, conformant: boolean, violations: object[]}>}
   */
  recordDecision(decision, { idempotencyKey } = {}) {
    return this._request("POST", "/v1/decisions", decision,
                         idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {});
  }

  /**
   * Queue a decision; the buffer sends it, in order, when `decisionBatchSize` are waiting
   * or `decisionFlushMs` after the first one. False when the queue is full (the decision is
   * dropped and reported to `onDecisionError`).
   * @param {object} decision @returns {boolean}
   */
  queueDecision(decision) {
    return this._decisions.add(decision);
  }

  /** Decisions queued and not yet stored. */
  get pendingDecisions() {
    return this._decisions.pending;
  }

  /** Decisions refused because the queue was full. */
  get droppedDecisions() {
    return this._decisions.dropped;
  }

  /**
   * Send every queued decision now; resolves with their results in order (`null` for one
   * the service refused). Decisions that could not be sent because the service is away
   * stay queued (see `pendingDecisions`) and are tried again.
   */
  flush() {
    return this._decisions.flush();
  }

  /** Stop the timer and flush; no decision may be queued afterwards. */
  close() {
    return this._decisions.close();
  }
}

/**
 * The bounded decision queue behind `queueDecision`: batches go out strictly in order, one
 * request at a time, each with an Idempotency-Key kept across retries. Without the batch
 * route (a service before `POST /v1/decisions/batch`, answering 404) each decision is sent
 * on its own, still in order.
 */
class DecisionBuffer {
  constructor(client, options) {
    this.client = client;
    this.batchSize = Math.min(Math.max(1, options.decisionBatchSize ?? 100), MAX_BATCH);
    this.flushMs = options.decisionFlushMs ?? 1000;
    this.limit = options.decisionQueueLimit ?? 10000;
    this.onError = options.onDecisionError ?? ((error, decisions) => {
      console.warn(`consentry-client: ${decisions.length} decision(s): ${error.message}`);
    });
    this.onResults = options.onDecisionResults ?? (() => {});
    /** @type {{decision: object, json: string, key: string}[]} */
    this.queue = [];
    /** A batch that failed because the service was away; sent again first, unchanged. */
    this.retry = null;
    this.sending = 0;
    this.dropped = 0;
    this.closed = false;
    this.timer = null;
    this.batchRoute = true;
    this.chain = Promise.resolve();
  }

  get pending() {
    return this.queue.length + (this.retry?.entries.length ?? 0) + this.sending;
  }

  add(decision) {
    if (this.closed) throw new Error("the client is closed");
    // Serialized now, so a decision that is not JSON fails here, in the caller's hands.
    const json = JSON.stringify(decision);
    if (this.pending >= this.limit) {
      this.dropped += 1;
      this._report(new Error(`decision queue full (${this.limit})`), [decision]);
      return false;
    }
    this.queue.push({ decision, json, key: crypto.randomUUID() });
    if (this.queue.length >= this.batchSize) this.flush();
    else this._arm();
    return true;
  }

  _arm() {
    if (this.timer || this.closed || this.flushMs === Infinity) return;
    this.timer = setTimeout(() => { this.timer = null; this.flush(); }, this.flushMs);
    this.timer.unref?.();  // a pending flush never keeps Node alive: close() flushes
  }

  flush() {
    const run = this.chain.then(() => this._drain());
    this.chain = run.then(() => {}, () => {});
    return run;
  }

  async close() {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = null;
    return this.flush();
  }

  _report(error, decisions) {
    try {
      this.onError(error, decisions);
    } catch {
      // a failing handler must not stop the buffer
    }
  }

  async _drain() {
    const results = [];
    while (this.retry || this.queue.length) {
      const batch = this.retry
        ?? { entries: this.queue.splice(0, this.batchSize), key: crypto.randomUUID() };
      this.retry = null;
      this.sending = batch.entries.length;
      batch.done = [];
      let failure = null;
      try {
        await this._send(batch);
      } catch (error) {
        failure = error;
      }
      this.sending = 0;
      const sent = batch.entries.slice(0, batch.done.length);
      const unsent = batch.entries.slice(batch.done.length);
      if (sent.length) {
        results.push(...batch.done);
        try {
          this.onResults(batch.done, sent.map((e) => e.decision));
        } catch {
          // a failing handler must not stop the buffer
        }
      }
      if (failure === null) continue;
      this._report(failure, unsent.map((e) => e.decision));
      if (failure instanceof GateUnavailable) {
        // Sent again first; unchanged (same Idempotency-Key) unless part of it went out.
        this.retry = sent.length ? { entries: unsent, key: crypto.randomUUID() } : batch;
        if (!this.closed) this._arm();
        return results;
      }
      results.push(...unsent.map(() => null));  // refused for good: not ours to retry
    }
    return results;
  }

  /** Send one batch, putting each result in `batch.done`, in order, as it is stored. */
  async _send(batch) {
    if (this.batchRoute) {
      try {
        const body = await this.client._request(
          "POST", "/v1/decisions/batch",
          `{"decisions":[${batch.entries.map((e) => e.json).join(",")}]}`,
          { "Idempotency-Key": batch.key });
        if (!Array.isArray(body?.results) || body.results.length !== batch.entries.length) {
          throw new GateUnavailable("service gave a malformed answer to a decision batch");
        }
        batch.done.push(...body.results);
        return;
      } catch (error) {
        if (!(error instanceof ConsentryHTTPError)) throw error;
        if (error.status === 404 || error.status === 405) this.batchRoute = false;
        // Else one decision was refused and the batch stored nothing: send each on its own,
        // so the others are stored and the refused one is reported alone.
      }
    }
    for (const { decision, json, key } of batch.entries) {
      try {
        batch.done.push(await this.client._request("POST", "/v1/decisions", json,
                                                   { "Idempotency-Key": key }));
      } catch (error) {
        if (!(error instanceof ConsentryHTTPError)) throw error;
        this._report(error, [decision]);
        batch.done.push(null);
      }
    }
  }
}
