#!/usr/bin/env node
// Independent webhook signers for Spine's ingest integration tests.
//
//   node sign.mjs <provider>  < request.json  > {"headers": {...}}
//
// Request (JSON on stdin):
//   {"secret": "...", "body": "<raw body as sent>", "url": "<full URL>", "method": "POST",
//    "timestamp": <unix seconds, optional, default now>, "id": "<message id, optional>",
//    "params": {"k": "v" | ["v1", "v2"]}   (twilio form params; default: parsed from body)}
//
// Each provider is signed by that provider's own SDK (see README.md); HubSpot's SDK only
// verifies, so HubSpot is signed with node:crypto and checked against the SDK before printing.
// Any error: message on stderr, exit status non-zero, nothing on stdout.

import { createHmac, randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';

export const PROVIDERS = [
  'stripe',
  'standard-webhooks',
  'github',
  'twilio',
  'hubspot',
  'postmark',
  'salesforce',
];

class UsageError extends Error {}

function need(req, field, type = 'string') {
  const v = req[field];
  if (typeof v !== type) {
    throw new UsageError(`request field "${field}" must be a ${type}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function nonEmpty(req, field) {
  const v = need(req, field);
  if (v === '') throw new UsageError(`request field "${field}" must not be empty`);
  return v;
}

/** Unix seconds: the request's `timestamp`, or now. */
function unixSeconds(req) {
  if (req.timestamp === undefined || req.timestamp === null) {
    return Math.floor(Date.now() / 1000);
  }
  if (!Number.isSafeInteger(req.timestamp) || req.timestamp <= 0) {
    throw new UsageError(
      `request field "timestamp" must be a positive integer (unix seconds), got ${JSON.stringify(req.timestamp)}`,
    );
  }
  return req.timestamp;
}

/** Twilio form params: `params` as given, else the body parsed as x-www-form-urlencoded. */
function twilioParams(req) {
  if (req.params === undefined || req.params === null) {
    const params = {};
    for (const [k, v] of new URLSearchParams(req.body ?? '')) {
      if (k in params) params[k] = [].concat(params[k], v);
      else params[k] = v;
    }
    return params;
  }
  if (typeof req.params !== 'object' || Array.isArray(req.params)) {
    throw new UsageError('request field "params" must be an object of name -> string (or string[])');
  }
  for (const [k, v] of Object.entries(req.params)) {
    const ok = typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
    if (!ok) throw new UsageError(`twilio param "${k}" must be a string or string[], got ${JSON.stringify(v)}`);
  }
  return req.params;
}

/** Returns the headers to add, as {name: value}. */
export async function sign(provider, req) {
  if (req === null || typeof req !== 'object' || Array.isArray(req)) {
    throw new UsageError('request must be a JSON object');
  }
  switch (provider) {
    case 'stripe': {
      // Official SDK: stripe.webhooks.generateTestHeaderString({payload, secret, timestamp})
      // -> "t=<ts>,v1=<hex HMAC-SHA256(secret, `${ts}.${payload}`)>"
      const { default: Stripe } = await import('stripe');
      const secret = nonEmpty(req, 'secret');
      const payload = need(req, 'body');
      const timestamp = unixSeconds(req);
      const header = Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp });
      return { 'Stripe-Signature': header };
    }

    case 'standard-webhooks': {
      // Official SDK: new Webhook(secret).sign(msgId, date, payload) -> "v1,<base64>"
      const { Webhook } = await import('standardwebhooks');
      const secret = nonEmpty(req, 'secret');
      const payload = need(req, 'body');
      const timestamp = unixSeconds(req);
      const id = req.id === undefined || req.id === null ? `msg_${randomBytes(12).toString('hex')}` : nonEmpty(req, 'id');
      const signature = new Webhook(secret).sign(id, new Date(timestamp * 1000), payload);
      return {
        'webhook-id': id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signature,
      };
    }

    case 'github': {
      // @octokit/webhooks-methods: await sign(secret, payload) -> "sha256=<hex>"
      const { sign: octokitSign } = await import('@octokit/webhooks-methods');
      const secret = nonEmpty(req, 'secret');
      const payload = nonEmpty(req, 'body');
      return { 'X-Hub-Signature-256': await octokitSign(secret, payload) };
    }

    case 'twilio': {
      // Official SDK: twilio.getExpectedTwilioSignature(authToken, url, params) (HMAC-SHA1,
      // base64, over url + each sorted name+value).
      const { default: twilio } = await import('twilio');
      const authToken = nonEmpty(req, 'secret');
      const url = nonEmpty(req, 'url');
      const params = twilioParams(req);
      return { 'X-Twilio-Signature': twilio.getExpectedTwilioSignature(authToken, url, params) };
    }

    case 'hubspot': {
      // v3: base64(HMAC-SHA256(clientSecret, method + url + body + timestamp_ms)).
      // @hubspot/api-client has no signer (only Signature.isValid / getSignature), so sign
      // with node:crypto and refuse to print unless the SDK agrees. Like the SDK, the URL is
      // used exactly as given (no percent-decoding).
      const { Signature } = await import('@hubspot/api-client');
      const clientSecret = nonEmpty(req, 'secret');
      const url = nonEmpty(req, 'url');
      const requestBody = need(req, 'body');
      const method = req.method === undefined ? 'POST' : nonEmpty(req, 'method');
      const timestampMs = req.timestamp === undefined || req.timestamp === null ? Date.now() : unixSeconds(req) * 1000;
      const signature = createHmac('sha256', clientSecret)
        .update(method + url + requestBody + String(timestampMs), 'utf8')
        .digest('base64');

      const opts = { signature, clientSecret, requestBody, url, method, signatureVersion: 'v3', timestamp: timestampMs };
      const sdkSignature = Signature.getSignature(method, 'v3', opts);
      if (sdkSignature !== signature) {
        throw new Error(`hubspot self-check failed: node:crypto gave ${signature}, SDK getSignature gave ${sdkSignature}`);
      }
      // isValid also enforces the SDK's freshness rule (rejects timestamps > 5 min old), so it can
      // only be asked about a fresh timestamp; stale ones (deliberate in tests) are checked above.
      if (Date.now() - timestampMs <= Signature.MAX_ALLOWED_TIMESTAMP) {
        if (Signature.isValid(opts) !== true) {
          throw new Error('hubspot self-check failed: SDK Signature.isValid rejected our signature');
        }
      }
      return {
        'X-HubSpot-Signature-v3': signature,
        'X-HubSpot-Request-Timestamp': String(timestampMs),
      };
    }

    case 'postmark': {
      // Postmark inbound webhooks use HTTP basic auth credentials embedded in the webhook URL.
      const secret = nonEmpty(req, 'secret');
      return { Authorization: `Basic ${Buffer.from(`postmark:${secret}`, 'utf8').toString('base64')}` };
    }

    case 'salesforce': {
      // Outbound messages: SOAP over HTTPS, no signature.
      return { 'Content-Type': 'text/xml; charset=utf-8', SOAPAction: '""' };
    }

    default:
      throw new UsageError(`unknown provider ${JSON.stringify(provider)}; expected one of: ${PROVIDERS.join(', ')}`);
  }
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(argv) {
  if (argv.length !== 1) {
    throw new UsageError(`usage: node sign.mjs <${PROVIDERS.join('|')}>  < request.json`);
  }
  const provider = argv[0];
  if (!PROVIDERS.includes(provider)) {
    throw new UsageError(`unknown provider ${JSON.stringify(provider)}; expected one of: ${PROVIDERS.join(', ')}`);
  }
  const text = await readStdin();
  let req;
  try {
    req = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`stdin is not valid JSON: ${e.message}`);
  }
  const headers = await sign(provider, req);
  process.stdout.write(JSON.stringify({ headers }) + '\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`sign.mjs: ${e instanceof UsageError ? '' : 'error: '}${e.message}\n`);
    process.exit(e instanceof UsageError ? 2 : 1);
  });
}
