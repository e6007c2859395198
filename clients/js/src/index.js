/** consentry-client: Consentry's engine client for Node >= 20 and edge runtimes. */

export { DEFAULT_MAX_AGE, GateClient, KEYS_REFETCH_MS, MAX_BATCH } from "./gate.js";
export { importJwks, TOKEN_TYP, verifyToken } from "./token.js";
export { verifyWebhook, WEBHOOK_TOLERANCE_SECONDS } from "./webhooks.js";
export {
  ConsentryHTTPError, GateUnavailable, SignatureError, TokenExpired, UnknownKeyError,
} from "./errors.js";
