// A webhook receiver independent of Spine, for its outbound webhook tests: every delivery is
// verified with the `standardwebhooks` package (the Standard Webhooks reference library), and
// answered as the test scripted.
//
// `node receiver.mjs` listens on 127.0.0.1 and prints `{"port": N}`. Control:
// - `POST /control {"secret", "statuses": [500, 410...], "retry_after": 1, "delay_ms": 0}`: the
//   secret to verify with; the statuses to answer next, in order (then 200); `Retry-After` on
//   429 and 503; a delay before each answer.
// - `GET /received`: every delivery so far, in arrival order:
//   `{"id", "timestamp", "verified", "status", "event"}`.
import http from 'node:http';
import { Webhook } from 'standardwebhooks';

let webhook = null;
let statuses = [];
let retryAfter = null;
let delayMs = 0;
const received = [];

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    if (req.url === '/control' && req.method === 'POST') {
      const control = JSON.parse(body);
      if (control.secret) webhook = new Webhook(control.secret);
      statuses = control.statuses ?? [];
      retryAfter = control.retry_after ?? null;
      delayMs = control.delay_ms ?? 0;
      res.end('{}');
      return;
    }
    if (req.url === '/received') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(received));
      return;
    }
    const headers = {
      'webhook-id': req.headers['webhook-id'],
      'webhook-timestamp': req.headers['webhook-timestamp'],
      'webhook-signature': req.headers['webhook-signature'],
    };
    let verified = false;
    let event = null;
    try {
      event = webhook.verify(body, headers);
      verified = true;
    } catch {
      verified = false;
    }
    const status = statuses.length > 0 ? statuses.shift() : 200;
    received.push({ id: headers['webhook-id'], timestamp: headers['webhook-timestamp'], verified, status, event });
    setTimeout(() => {
      if (retryAfter !== null && (status === 429 || status === 503)) {
        res.setHeader('retry-after', String(retryAfter));
      }
      res.statusCode = status;
      res.end(status < 300 ? 'thanks' : 'not now');
    }, delayMs);
  });
});

server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ port: server.address().port }));
});
