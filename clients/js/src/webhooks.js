/**
 * Verify a Consentry webhook as the Standard Webhooks specification says, with WebCrypto.
 *
 *     const event = await verifyWebhook(secret, request.headers, rawBody);
 *     event.type, event.data.subject_id
 *
 * `webhook-signature` holds one or more `v1,<base64>` signatures (two, space-separated,
 * for 24 hours after a rotation); one must be the HMAC-SHA256, keyed by the bytes of the
 * base64 after `whsec_`, of `${webhook-id}.${webhook-timestamp}.${body}`. A timestamp
 * more than `toleranceSeconds` from now is refused (a replayed delivery). The same
 * behaviour as the Python client's `verify_webhook`; `GateClient.verifyWebhook` also
 * drops the cached answers of the subject named.
 */

import { SignatureError } from "./errors.js";

export const WEBHOOK_TOLERANCE_SECONDS = 300;
const encoder = new TextEncoder();

function header(headers, name) {
  if (typeof headers?.get === "function") return headers.get(name);
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value[0] : value;
  }
  return null;
}

function base64Bytes(text) {
  const raw = atob(text);
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

function bytesBase64(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)));
}

function sameText(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i += 1) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** The event of a delivery signed by one of `secrets`; rejects with SignatureError. */
export async function verifyWebhook(secrets, headers, body,
                                    { toleranceSeconds = WEBHOOK_TOLERANCE_SECONDS,
                                      now = Date.now() / 1000 } = {}) {
  const id = header(headers, "webhook-id");
  const stamp = header(headers, "webhook-timestamp");
  const signatures = header(headers, "webhook-signature");
  if (!id || !stamp || !signatures) throw new SignatureError("missing webhook headers");
  const timestamp = Number(stamp);
  if (!/^\d+$/.test(stamp) || Math.abs(now - timestamp) > toleranceSeconds) {
    throw new SignatureError("webhook-timestamp is too far from now");
  }
  const text = typeof body === "string" ? body : new TextDecoder().decode(body);
  const signed = encoder.encode(`${id}.${stamp}.${text}`);
  for (const secret of Array.isArray(secrets) ? secrets : [secrets]) {
    let keyBytes;
    try {
      keyBytes = base64Bytes(secret.replace(/^whsec_/, ""));
    } catch {
      throw new SignatureError("a secret is not whsec_<base64>");
    }
    const key = await crypto.subtle.importKey("raw", keyBytes, { name: "HMAC", hash: "SHA-256" },
                                              false, ["sign"]);
    const expected = bytesBase64(await crypto.subtle.sign("HMAC", key, signed));
    for (const signature of signatures.split(" ")) {
      const [version, value] = signature.split(",", 2);
      if (version === "v1" && value && sameText(value, expected)) {
        try {
          return JSON.parse(text);
        } catch {
          throw new SignatureError("the webhook body is not JSON");
        }
      }
    }
  }
  throw new SignatureError("no webhook signature matches");
}
