// One live stream (`/v1/stream`, Server-Sent Events) that survives the network: it remembers
// the highest seq received and, whenever the browser gives up on the connection, opens a new
// one that resumes after it. The EventSource constructor and the timers are passed in so the
// resume rules can be tested in Node.

export const CONNECTING = 'connecting';
export const LIVE = 'live';
export const RECONNECTING = 'reconnecting';
export const OFFLINE = 'offline';
export const STOPPED = 'stopped';

const CLOSED = 2; // EventSource.CLOSED, without needing EventSource to exist
const MAX_DELAY = 15_000;
// Failed attempts after which the indicator says "Offline" (with a Retry button) rather than
// "Reconnecting…"; the attempts go on in the background either way.
const OFFLINE_AFTER = 3;

/** 1 s, 2 s, 4 s, ... capped at 15 s, each spread by ±20% so many pages don't retry in step. */
export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(MAX_DELAY, 1000 * 2 ** attempt);
  return Math.min(MAX_DELAY, Math.round(base * (0.8 + 0.4 * random())));
}

// Handlers (`on`, all optional): activity(event), read(data), seen(data), archive(data),
// reset(data) (reload the list from its first page), status(state), expired(detail) (token or
// session expired: the stream stops), unauthorized(error) (the probe was refused: it stops),
// reopened() (live again after an interruption: refetch what a stream does not replay, such
// as the unread count).
export class LiveConnection {
  #url;
  #on;
  #probe;
  #EventSource;
  #timers;
  #random;
  #es = null;
  #after = null;
  #attempt = 0;
  #failures = 0;
  #timer = null;
  #state = STOPPED;
  #interrupted = false;
  #onOnline = () => {
    if (this.#state === RECONNECTING || this.#state === OFFLINE) this.retryNow();
  };

  /**
   * `url(after)` builds the stream URL resuming after a seq. `probe`, when given, is asked
   * before reopening a closed stream: a rejection with status 401 ends the stream (signed
   * out); any other failure keeps backing off.
   */
  constructor({ url, on = {}, probe = null, EventSource = globalThis.EventSource,
    timers = globalThis, random = Math.random }) {
    this.#url = url;
    this.#on = on;
    this.#probe = probe;
    this.#EventSource = EventSource;
    this.#timers = timers;
    this.#random = random;
  }

  get state() {
    return this.#state;
  }

  /** The highest seq received so far: where the next connection resumes. */
  get after() {
    return this.#after;
  }

  /** Opens the stream after `after` (null: from the live end). */
  start(after = null) {
    this.stop();
    this.#after = after;
    this.#attempt = 0;
    this.#failures = 0;
    this.#setState(CONNECTING);
    globalThis.addEventListener?.('online', this.#onOnline);
    this.#open();
  }

  stop() {
    this.#close();
    this.#timers.clearTimeout(this.#timer);
    this.#timer = null;
    globalThis.removeEventListener?.('online', this.#onOnline);
    this.#setState(STOPPED);
  }

  /** Reconnects at once (the Retry button, a fresh token), resuming after the last seq. */
  retryNow() {
    this.#close();
    this.#timers.clearTimeout(this.#timer);
    this.#timer = null;
    this.#attempt = 0;
    this.#interrupted = true;
    globalThis.addEventListener?.('online', this.#onOnline);
    if (this.#state === STOPPED || this.#state === LIVE) this.#setState(CONNECTING);
    this.#open();
  }

  #open() {
    const es = new this.#EventSource(this.#url(this.#after));
    this.#es = es;
    const on = (type, handler) => es.addEventListener(type, (e) => {
      if (this.#es === es) handler(e);
    });
    on('open', () => {
      this.#attempt = 0;
      this.#failures = 0;
      if (this.#interrupted) this.#on.reopened?.();
      this.#interrupted = false;
      this.#setState(LIVE);
    });
    on('position', (e) => this.#advance(Number(e.data)));
    on('activity', (e) => {
      const event = parse(e.data);
      if (!event) return;
      this.#advance(Number(event.seq ?? e.lastEventId));
      this.#on.activity?.(event);
    });
    for (const type of ['read', 'seen', 'archive']) {
      on(type, (e) => {
        const data = parse(e.data);
        if (data) this.#on[type]?.(data);
      });
    }
    on('reset', (e) => {
      const data = parse(e.data) ?? {};
      const position = Number(data.position ?? e.lastEventId);
      if (Number.isFinite(position)) this.#after = position;
      this.#on.reset?.(data);
    });
    // Both the browser's connection errors and the server's `event: error` message arrive
    // here; only the message carries data.
    on('error', (e) => (typeof e.data === 'string' ? this.#serverError(e.data) : this.#dropped(es)));
  }

  #serverError(text) {
    const { error, detail } = parse(text) ?? {};
    this.#interrupted = true;
    // The server closes the stream after this message; closing first keeps the browser from
    // reconnecting by itself with a credential that is no longer good.
    this.#close();
    if (error === 'token-expired') {
      this.#setState(STOPPED);
      this.#on.expired?.(detail ?? '');
    } else {
      this.#scheduleReconnect();
    }
  }

  #dropped(es) {
    this.#interrupted = true;
    if (es.readyState === CLOSED) {
      this.#close();
      this.#scheduleReconnect();
      return;
    }
    // CONNECTING: the browser retries by itself, sending Last-Event-ID.
    this.#failures += 1;
    this.#setState(this.#failures >= OFFLINE_AFTER ? OFFLINE : RECONNECTING);
  }

  #scheduleReconnect() {
    this.#setState(this.#attempt >= OFFLINE_AFTER ? OFFLINE : RECONNECTING);
    const delay = backoffDelay(this.#attempt, this.#random);
    this.#attempt += 1;
    this.#timer = this.#timers.setTimeout(() => this.#reconnect(), delay);
  }

  async #reconnect() {
    this.#timer = null;
    if (this.#probe) {
      try {
        await this.#probe();
      } catch (error) {
        if (this.#state === STOPPED) return;
        if (error?.status === 401) {
          this.stop();
          this.#on.unauthorized?.(error);
        } else {
          this.#scheduleReconnect();
        }
        return;
      }
      if (this.#state === STOPPED) return;
    }
    this.#open();
  }

  #advance(seq) {
    if (Number.isFinite(seq) && (this.#after === null || seq > this.#after)) this.#after = seq;
  }

  #close() {
    this.#es?.close();
    this.#es = null;
  }

  #setState(state) {
    if (state === this.#state) return;
    this.#state = state;
    this.#on.status?.(state);
  }
}

function parse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
