// Types of consentry-client (hand-written; the code is plain ESM JavaScript in src/).

/** Why a category is denied: one of the gate's reason codes (docs/API.md). */
export type ReasonCode =
  | "explicit_grant" | "explicit_denial" | "withdrawn" | "default_opt_out_basis"
  | "requires_explicit_consent" | "personalization_off" | "sale_sharing_opt_out" | "gpc"
  | "purpose_denied" | "consent_expired" | "unknown_category" | "not_permitted_for_purpose";

export interface Denial {
  readonly category: string;
  readonly reason: ReasonCode | string;
}

export interface SignalLimits {
  readonly max_signal_age_days?: number | null;
  readonly decay_after_days?: number | null;
}

/** The gate's answer for one subject, purpose and channel. */
export interface Answer {
  readonly subjectId: string;
  readonly purpose: string;
  readonly channel: string | null;
  /** The jurisdiction the service applied (null in an answer the service did not give). */
  readonly jurisdiction: string | null;
  readonly allowed: readonly string[];
  readonly denied: readonly Denial[];
  readonly limits: Readonly<Record<string, SignalLimits>>;
  readonly policyVersion: string;
  readonly evaluatedAt: string | null;
  /** Seconds the answer may be cached, as the service said. */
  readonly maxAge: number | null;
  /** The signed consent token (null from a batch check or a degraded answer). */
  readonly token: string | null;
  /** Not the service's answer of the moment: the service could not be reached (a cached
   *  answer within its max_age, or nothing allowed) or refused the lookup (nothing allowed). */
  readonly degraded: boolean;
  /** Why the answer is degraded. */
  readonly reason: string | null;
}

/** A decision, shaped as `POST /v1/decisions` (docs/API.md). */
export interface Decision {
  subject_id: string;
  surface: string;
  channel?: string | null;
  purpose?: string;
  item: { id: string; label?: string | Record<string, string>; [key: string]: unknown };
  signals_used?: Array<{ category: string; summary?: string | Record<string, string>;
                         observed_at?: string; [key: string]: unknown }>;
  rule?: { id: string; description?: string | Record<string, string>;
           [key: string]: unknown } | null;
  decided_at: string;
  recipe_id?: string | null;
  [key: string]: unknown;
}

export interface DecisionResult {
  decision_id: string;
  conformant: boolean;
  violations: Array<{ category: string; reason: string; [key: string]: unknown }>;
}

/** The claims of a consent token. */
export interface TokenClaims {
  sub: string;
  purpose: string;
  channel: string | null;
  jurisdiction: string;
  allowed: string[];
  limits: Record<string, SignalLimits>;
  policy_version: string;
  policy_digest: string;
  iat: number;
  exp: number;
  iss?: string;
  [claim: string]: unknown;
}

export interface GateClientOptions {
  /** Per request, in milliseconds (default 2000). */
  timeoutMs?: number;
  /** A lookup follows the change feed first when the last sync is older (default 1000 ms). */
  syncIntervalMs?: number;
  /** `verify` refuses a token whose `iss` differs (the deployment's `CONSENTRY_PUBLIC_URL`);
   *  default: the base URL, so a token is never taken unchecked. */
  issuer?: string;
  /** Reject with ConsentryHTTPError when the service refuses a lookup (4xx) instead of
   *  answering nothing allowed, degraded (default false). */
  throwOnRefusal?: boolean;
  /** The fetch to use (default: globalThis.fetch). */
  fetch?: typeof globalThis.fetch;
  /** A monotonic clock in milliseconds (default: performance.now). */
  clock?: () => number;
  /** The buffer sends when this many decisions wait (default 100, at most 1000). */
  decisionBatchSize?: number;
  /** ... or this many milliseconds after the first one was queued (default 1000). */
  decisionFlushMs?: number;
  /** The most decisions waiting; more are refused (default 10000). */
  decisionQueueLimit?: number;
  /** Decisions refused by the service or the full queue, or kept back while it is away. */
  onDecisionError?: (error: Error, decisions: Decision[]) => void;
  /** The results of decisions the buffer stored, in order (null: refused). */
  onDecisionResults?: (results: Array<DecisionResult | null>, decisions: Decision[]) => void;
}

export interface LookupOptions {
  /** Used when the subject has none recorded (else the policy's default). */
  jurisdiction?: string | null;
}

/** A cached, fail-closed client of Consentry's signal gate, with a decision buffer. */
export class GateClient {
  constructor(baseUrl: string, apiKey: string, options?: GateClientOptions);
  baseUrl: string;
  apiKey: string;
  timeoutMs: number;
  syncIntervalMs: number;
  issuer: string;
  throwOnRefusal: boolean;

  /** Which categories may be used; never rejects because the service is away. */
  allowedSignals(subjectId: string, purpose: string, channel?: string | null,
                 options?: LookupOptions): Promise<Answer>;
  /** The cached answer, if any and not expired (no request). */
  cached(subjectId: string, purpose: string, channel?: string | null,
         options?: LookupOptions): Answer | null;
  /** How many answers the cache holds (expired ones until they are swept). */
  readonly cacheSize: number;
  /** Follow the change feed; resolves with the number of changes seen. */
  sync(): Promise<number>;
  /** The fail-closed answer: the cached one marked degraded, else nothing allowed. */
  unavailable(subjectId: string, purpose: string, channel: string | null,
              jurisdiction: string | null, reason: string): Answer;
  /** The answer to a refused lookup: nothing allowed, degraded, the refusal as its reason. */
  refused(subjectId: string, purpose: string, channel: string | null,
          jurisdiction: string | null, error: ConsentryHTTPError): Answer;
  /** Batch check, 1,000 subjects a request; answers without tokens; the cache is left alone. */
  checkSignals(subjectIds: Iterable<string>, purpose: string, channel?: string | null,
               options?: LookupOptions & { categories?: string[] | null }
  ): Promise<Map<string, Answer>>;
  /** Verify a consent token offline against the service's published keys, the issuer,
   *  and the subject and purpose it must be for. */
  verify(token: string, subjectId: string, purpose: string): Promise<TokenClaims>;
  /** Verify a Consentry webhook, then drop the cached answers of the subject it names. */
  verifyWebhook(secrets: string | string[], headers: Headers | Record<string, string | string[]>,
                body: string | Uint8Array, options?: WebhookVerifyOptions): Promise<WebhookEvent>;
  /** Record one decision now. */
  recordDecision(decision: Decision, options?: { idempotencyKey?: string }
  ): Promise<DecisionResult>;
  /** Queue a decision for the buffer; false when the queue is full. */
  queueDecision(decision: Decision): boolean;
  /** Send every queued decision; their results in order (null: refused). */
  flush(): Promise<Array<DecisionResult | null>>;
  /** Stop the timer and flush; no decision may be queued afterwards. */
  close(): Promise<Array<DecisionResult | null>>;
  readonly pendingDecisions: number;
  readonly droppedDecisions: number;
}

export interface VerifyOptions {
  /** Keys from importJwks ... */
  keys?: Map<string, CryptoKey>;
  /** ... or the JWKS document itself (`/.well-known/consentry-keys`). */
  jwks?: { keys: object[] } | object[];
  issuer?: string;
  /** Milliseconds since the epoch (default: Date.now()). */
  now?: number;
  /** Accept this header `typ` instead of "consentry-consent+jwt". */
  typ?: string;
}

/** The claims of a verified consent token; rejects with a SignatureError otherwise. */
export function verifyToken(token: string, options: VerifyOptions): Promise<TokenClaims>;
/** The Ed25519 keys of a JWKS, by key id. */
export function importJwks(jwks: { keys: object[] } | object[]): Promise<Map<string, CryptoKey>>;

export const TOKEN_TYP: "consentry-consent+jwt";

export interface WebhookEvent {
  type: string;
  timestamp: string;
  data: { subject_id?: string; [key: string]: unknown };
}

export interface WebhookVerifyOptions {
  /** Seconds a `webhook-timestamp` may be from now (default 300). */
  toleranceSeconds?: number;
  /** Now, in Unix seconds (tests). */
  now?: number;
}

/** Verify a Standard Webhooks delivery from Consentry; rejects with SignatureError. */
export function verifyWebhook(secrets: string | string[],
                              headers: Headers | Record<string, string | string[]>,
                              body: string | Uint8Array,
                              options?: WebhookVerifyOptions): Promise<WebhookEvent>;
export const WEBHOOK_TOLERANCE_SECONDS: number;
export const DEFAULT_MAX_AGE: number;
export const KEYS_REFETCH_MS: number;
export const MAX_BATCH: number;

export class GateUnavailable extends Error {
  readonly status: number | undefined;
}
export class ConsentryHTTPError extends Error {
  readonly status: number;
  readonly code: string | undefined;
  readonly fields: Record<string, string[]> | undefined;
  readonly body: unknown;
}
export class SignatureError extends Error {}
export class UnknownKeyError extends SignatureError {}
export class TokenExpired extends SignatureError {}
