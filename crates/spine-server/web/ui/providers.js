// The providers a channel can be made for, and what an admin does on each provider's side:
// where to paste the ingest URL and which secret the channel holds. Pure: the channels page
// renders these (text in `backticks` reads as code). The providers' names and marks live in
// embed/lib/providers.js, which the feed shares; they are re-exported here.

export { PROVIDERS, providerOf, createProviderIcon } from '../embed/lib/providers.js';

/** Providers a channel may be created for, in the order the form offers them (not `file` yet). */
export const CHANNEL_PROVIDERS = [
  'generic', 'standard-webhooks', 'cloudevents', 'github', 'stripe', 'twilio', 'postmark',
  'hubspot', 'salesforce', 'claude-code', 'file',
];

/** What the secret field means for each provider, shown beside it on the form. */
export const SECRET_HINTS = {
  generic: 'Optional: leave empty and Spine generates a key.',
  'standard-webhooks': 'The sender\'s whsec_… signing secret if it issues one; empty: Spine generates one for you to give the sender.',
  cloudevents: 'Optional: leave empty and Spine generates a key.',
  github: 'Optional: the webhook secret you will paste into GitHub; empty: Spine generates one.',
  stripe: 'Stripe issues the whsec_… secret once the endpoint exists: leave empty now, then rotate to it.',
  twilio: 'Your Twilio account\'s Auth Token (it signs every request).',
  postmark: 'Optional: the basic-auth password Postmark will send; empty: Spine generates one.',
  hubspot: 'Your HubSpot app\'s client secret (it signs every request).',
  salesforce: 'Required: your org\'s 18-character Organization ID.',
  'claude-code': 'Optional: leave empty and Spine generates a key.',
  file: 'Optional: leave empty and Spine generates a key.',
};

const SECRET = '<secret>';

/** The ingest URL with HTTP basic auth: any user name, the channel secret as the password. */
export function withBasicAuth(url, secret) {
  const password = secret ? encodeURIComponent(secret) : 'SECRET';
  return url.replace(/^(https?:\/\/)/, `$1spine:${password}@`);
}

/**
 * How to connect `provider` to a channel whose ingest URL is `url`: `steps` (sentences, code in
 * backticks), `values` to paste ({label, value}) and maybe an `example` (a snippet). `secret`,
 * when known (just after creating), goes only where the provider takes it inside the URL.
 * @returns {{steps: string[], values: {label: string, value: string}[], example?: string}|null}
 */
export function setupGuide(provider, url, secret = null) {
  const guide = GUIDES[provider];
  return guide ? guide(url, secret) : null;
}

const keyExample = (url) => [
  `curl ${url} \\`,
  `  -H "X-Ingestion-Key: $CHANNEL_SECRET" -H "Content-Type: application/json" \\`,
  `  -d '{"subject": "Called Globex about the renewal"}'`,
].join('\n');

const GUIDES = {
  generic: (url) => ({
    steps: [
      'Send each event as an HTTP `POST` to the ingest URL with a JSON body: one object, or an array of objects.',
      'Authenticate with the channel secret in an `X-Ingestion-Key` header, or as `Authorization: Bearer <secret>`; a tenant ingest key as the bearer works too.',
      'The mapping picks the title, type, actor and entity out of the JSON with JSON Pointers (`/subject`); without a title the request is refused. An `Idempotency-Key` header keeps a retried request from being stored twice.',
    ],
    values: [{ label: 'Ingest URL', value: url }, { label: 'Header', value: `X-Ingestion-Key: ${SECRET}` }],
    example: keyExample(url),
  }),
  'standard-webhooks': (url) => ({
    steps: [
      'In the sending service\'s webhook settings, add an endpoint whose URL is the ingest URL.',
      'The sender signs each delivery (`webhook-id`, `webhook-timestamp`, `webhook-signature`) with the endpoint\'s `whsec_…` signing secret. If the sender issued it, rotate this channel\'s secret to it (Rotate secret, then paste it); if the sender lets you set one, give it the secret Spine generated.',
      'Signatures more than 5 minutes old are refused, so the sender\'s clock must be right.',
    ],
    values: [{ label: 'Endpoint URL', value: url }],
  }),
  cloudevents: (url) => ({
    steps: [
      'Point the CloudEvents sender\'s HTTP delivery (its webhook sink or subscription endpoint) at the ingest URL. Structured (`application/cloudevents+json`), batch (`application/cloudevents-batch+json`) and binary (`ce-*` headers) modes are read.',
      'Authenticate with `Authorization: Bearer <secret>` (the channel secret, or a tenant ingest key) or with the `X-Ingestion-Key` header.',
      'Spine answers the CloudEvents webhook validation handshake (`OPTIONS` with `WebHook-Request-Origin`) on the same URL.',
    ],
    values: [{ label: 'Ingest URL', value: url }, { label: 'Header', value: `Authorization: Bearer ${SECRET}` }],
  }),
  github: (url) => ({
    steps: [
      'On GitHub, open the repository\'s (or organization\'s) Settings → Webhooks → Add webhook.',
      'Payload URL: the ingest URL. Content type: `application/json`. Secret: the channel secret.',
      'Choose the events to send and save. GitHub signs every delivery with `X-Hub-Signature-256`; its Recent Deliveries and this channel\'s ledger both list them.',
    ],
    values: [{ label: 'Payload URL', value: url }, { label: 'Content type', value: 'application/json' }],
  }),
  stripe: (url) => ({
    steps: [
      'In the Stripe Dashboard open Developers → Webhooks → Add endpoint, paste the ingest URL as the endpoint URL and select the events to send.',
      'Stripe then shows the endpoint\'s signing secret (`whsec_…`, under Reveal). Pass it as this channel\'s secret: Rotate secret on this channel and paste it as the new secret, so Spine checks `Stripe-Signature` with it.',
      'Deliveries signed more than 5 minutes before they arrive are refused.',
    ],
    values: [{ label: 'Endpoint URL', value: url }],
  }),
  twilio: (url) => ({
    steps: [
      'The channel secret is your Twilio account\'s Auth Token (Console → Account info): Twilio signs every request with it.',
      'In the Twilio Console open Phone Numbers → Manage → Active numbers → your number. Under Messaging ("A message comes in") and Voice ("A call comes in", and the call status callback), set the webhook to the ingest URL with HTTP `POST`.',
      'Twilio signs the full URL (`X-Twilio-Signature`), so paste it exactly as shown; behind a proxy, set Spine\'s `public_url` to the address Twilio calls.',
    ],
    values: [{ label: 'Webhook URL', value: url }],
  }),
  postmark: (url, secret) => ({
    steps: [
      'In Postmark open your server → its inbound message stream → Settings, and set the inbound webhook URL to the ingest URL with basic auth: `https://anyuser:SECRET@host/v1/ingest/…`. Any user name works; the password is the channel secret.',
      'Postmark then posts each inbound e-mail as JSON; a sender whose address is an entity\'s identifier is filed under that entity.',
    ],
    values: [{ label: 'Inbound webhook URL', value: withBasicAuth(url, secret) }],
  }),
  hubspot: (url) => ({
    steps: [
      'The channel secret is your HubSpot app\'s client secret (the app\'s Auth settings): HubSpot signs every request with it.',
      'In your HubSpot developer account open the app → Webhooks, set the target URL to the ingest URL and create subscriptions for the events you want.',
      'HubSpot signs the method, URL, body and time (`X-HubSpot-Signature-v3`): keep the URL exactly as shown (set `public_url` behind a proxy). Requests older than 5 minutes are refused.',
    ],
    values: [{ label: 'Target URL', value: url }],
  }),
  salesforce: (url) => ({
    steps: [
      'The channel secret is your org\'s 18-character Organization ID: Spine accepts only outbound messages whose `OrganizationId` is that ID.',
      'In Salesforce Setup open Outbound Messages → New Outbound Message, choose the object, set the Endpoint URL to the ingest URL and pick the fields to send; then send it from a flow or workflow rule when records change.',
      'Spine answers each message with the SOAP `Ack` Salesforce expects, so it is not sent again.',
    ],
    values: [{ label: 'Endpoint URL', value: url }],
  }),
  'claude-code': (url) => ({
    steps: [
      'In `.claude/settings.json` (one project) or `~/.claude/settings.json` (all of them), add an `http` hook for each hook event to record, such as `SessionStart`, `UserPromptSubmit`, `PostToolUse` and `Stop`, with `url` set to the ingest URL and the header `Authorization: Bearer <secret>`.',
      'Each hook call becomes one event (`agent.prompt`, `agent.tool.finished`, …) on the session\'s entity; tokens in the tool input are redacted before anything is stored.',
    ],
    values: [{ label: 'Hook URL', value: url }, { label: 'Header', value: `Authorization: Bearer ${SECRET}` }],
    example: JSON.stringify({
      hooks: Object.fromEntries(['UserPromptSubmit', 'PostToolUse', 'Stop'].map((name) => [name, [{
        matcher: '*',
        hooks: [{ type: 'http', url, headers: { Authorization: `Bearer ${SECRET}` } }],
      }]])),
    }, null, 2),
  }),
  file: (url) => ({
    steps: [
      'Upload files as `multipart/form-data` to the ingest URL followed by `/files`, one or more parts with a file name, up to 50 MiB each.',
      'Authenticate with the `X-Ingestion-Key` header (the channel secret) or `Authorization: Bearer` with a tenant ingest key.',
      'Each file becomes one `file.uploaded` event carrying its SHA-256, name, size and sniffed type; the same file sent again is a repeat, and `GET /v1/files/<sha256>` downloads it as an attachment.',
    ],
    values: [{ label: 'Upload URL', value: `${url}/files` }, { label: 'Header', value: `X-Ingestion-Key: ${SECRET}` }],
    example: `curl -H 'X-Ingestion-Key: ${SECRET}' -F file=@report.pdf ${url}/files`,
  }),
};

/** Splits text at `backticks` into [{code: boolean, text}] parts, for rendering as text nodes. */
export function codeParts(text) {
  return text.split('`').map((part, i) => ({ code: i % 2 === 1, text: part })).filter((p) => p.text !== '');
}
