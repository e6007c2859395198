/** The errors the client throws; each is its own class so callers can tell them apart. */

/** The service could not be reached, timed out, rate-limited us or answered with a 5xx. */
export class GateUnavailable extends Error {
  /** @param {string} message @param {{cause?: unknown, status?: number}} [options] */
  constructor(message, options = {}) {
    super(message, { cause: options.cause });
    this.name = "GateUnavailable";
    /** @type {number | undefined} */
    this.status = options.status;
  }
}

/** The service refused the request (a 4xx other than 429): fix the request, do not retry. */
export class ConsentryHTTPError extends Error {
  /** @param {number} status @param {any} body the error envelope, when the body was JSON */
  constructor(status, body) {
    const error = body && typeof body === "object" ? body.error : undefined;
    super(`HTTP ${status}${error?.code ? ` ${error.code}` : ""}${error?.message ? `: ${error.message}` : ""}`);
    this.name = "ConsentryHTTPError";
    this.status = status;
    /** @type {string | undefined} */
    this.code = error?.code;
    /** @type {Record<string, string[]> | undefined} */
    this.fields = error?.fields;
    this.body = body;
  }
}

/** A token or signature that does not verify; anything malformed is one too. */
export class SignatureError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "SignatureError";
  }
}

/** Signed with a key id the verifier's keys do not have (the service rotated its key?). */
export class UnknownKeyError extends SignatureError {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "UnknownKeyError";
  }
}

/** A token whose `exp` has passed. */
export class TokenExpired extends SignatureError {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "TokenExpired";
  }
}
