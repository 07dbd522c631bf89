import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';

/** One thing the bot did to Slack, in arrival order (`seq` is shared by all kinds). */
export interface RecordedCall {
  seq: number;
  at: number;
  /**
   * api: Web API method; response_url: a POST to a command's response_url; ack: a Socket Mode envelope ack;
   * connect: a Socket Mode WebSocket opened (and sent hello); mark: a point the test recorded.
   */
  kind: 'api' | 'response_url' | 'ack' | 'connect' | 'mark';
  /** Web API method (chat.postMessage…), the response_url id, the acked envelope id or a mark's name. */
  method: string;
  /** Parsed body (form fields with JSON values decoded, or JSON). */
  body: Record<string, unknown>;
  /** Raw bytes as received, for leak checks. */
  raw: string;
  /** The HTTP status the fake answered. */
  status: number;
  /** What the fake answered a Web API call (chat.postMessage's ts is here). */
  answer?: Record<string, unknown>;
}

export interface SlashOptions {
  command: string;
  text?: string;
  userId?: string;
  userName?: string;
  channelId?: string;
}

export interface ButtonPress {
  /** The ts of the message the button is on (from chat.postMessage's answer). */
  ts: string;
  /** The button's action_id, e.g. "dbwarden.accept"; its value is read from the message's blocks. */
  actionId: string;
  userId?: string;
  userName?: string;
  triggerId?: string;
  /** The message as a client still shows it (an older copy, before an edit removed the buttons). */
  blocks?: unknown[];
}

export interface FakeSlack {
  /** Web API base URL for SLACK_API_URL. */
  apiUrl: string;
  botToken: string;
  appToken: string;
  signingSecret: string;
  calls: RecordedCall[];
  /** Web API calls of one method, in order. */
  api(method: string): RecordedCall[];
  /**
   * Make the next `times` calls of a method fail: with an HTTP status (and Retry-After seconds for 429), or with
   * HTTP 200 and a Slack error code (`{ ok: false, error }`).
   */
  failNext(
    method: string,
    failure: { status: number; retryAfter?: number; error?: string; times?: number },
  ): void;
  /** Channels where chat.postMessage answers not_in_channel. */
  notInChannel: Set<string>;
  /** Socket Mode: send a slash_commands envelope on the open WebSocket. */
  sendSlashCommand(opts: SlashOptions): { envelopeId: string; responseUrl: string };
  /**
   * Socket Mode: press a button on a message the bot posted (block_actions, as Slack sends it). The same
   * `triggerId` twice is a replay of one press; a new envelope id each time, as Slack's redelivery does.
   */
  sendBlockAction(opts: ButtonPress): { envelopeId: string; responseUrl: string; triggerId: string };
  /** HTTP mode: the form body (payload=…) Slack would POST for a button press. */
  actionForm(opts: ButtonPress): { body: string; responseUrl: string; triggerId: string };
  /** The message the bot posted with this ts (as last edited). */
  message(ts: string): { channel: string; text: string; blocks: unknown[] } | undefined;
  /** HTTP mode: the form body Slack would POST for a slash command, and its response_url. */
  slashForm(opts: SlashOptions): { body: string; responseUrl: string };
  /** Slack's request signature headers for a body (timestamp in seconds). */
  sign(body: string, timestamp?: number, secret?: string): Record<string, string>;
  /** Record a point in the sequence from the test side (e.g. "the HTTP ack arrived"). */
  mark(name: string): RecordedCall;
  /** Resolve with the first recorded call matching, waiting for it if needed. */
  waitFor(match: (c: RecordedCall) => boolean, timeoutMs?: number): Promise<RecordedCall>;
  /** Close the Socket Mode connection abruptly, as a network drop or a recycled Slack host would. */
  dropSocket(): void;
  /** Resolves once a Socket Mode client has connected and been sent hello. */
  socketOpen(): Promise<void>;
  close(): Promise<void>;
}

/** A post or an edit in this channel over the Web API; `accepted`: only those the fake answered with 200. */
export const inChannel =
  (channel: string, opts: { accepted?: boolean } = {}) =>
  (c: RecordedCall): boolean =>
    c.kind === 'api' &&
    (c.method === 'chat.postMessage' || c.method === 'chat.update') &&
    c.body.channel === channel &&
    (!opts.accepted || c.status === 200);

/** The text of a message's first block (its header). */
export const header = (c: RecordedCall): string =>
  String((c.body.blocks as { type: string; text?: { text: string } }[])[0]?.text?.text);

/** The answer posted to one command's or press's response_url: seen only by the person who asked. */
export const viaResponseUrl =
  (responseUrl: string) =>
  (c: RecordedCall): boolean =>
    c.kind === 'response_url' && c.method === responseUrl.split('/').at(-1);

/**
 * Every recorded byte a secret must never be in: the bot token may travel only as the credential (the
 * Authorization header, which is not recorded, or auth.test's token parameter), so that parameter is left out.
 */
export function payloadsWithoutCredential(fake: FakeSlack): string[] {
  const credential = `token=${encodeURIComponent(fake.botToken)}`;
  return fake.calls.map((c) =>
    c.kind === 'api'
      ? c.raw
          .split('&')
          .filter((p) => p !== credential)
          .join('&')
      : c.raw,
  );
}

/** A fake Slack on 127.0.0.1 speaking the real wire protocol: Web API, response_url, Socket Mode. */
export async function startFakeSlack(): Promise<FakeSlack> {
  const botToken = ['xoxb', 'test', Date.now(), Math.floor(Math.random() * 1e6)].join('-');
  const appToken = ['xapp', '1', 'A0TEST', Date.now()].join('-');
  const signingSecret = randomUUID().replace(/-/g, '');
  const calls: RecordedCall[] = [];
  const failures = new Map<
    string,
    { status: number; retryAfter?: number; error?: string; times: number }[]
  >();
  const messages = new Map<string, { channel: string; text: string; blocks: unknown[] }>();
  const notInChannel = new Set<string>();
  const waiters: { match: (c: RecordedCall) => boolean; resolve: (c: RecordedCall) => void }[] = [];
  let seq = 0;
  let socket: WebSocket | null = null;
  let socketReady: () => void = () => {};
  let socketOpened = new Promise<void>((r) => (socketReady = r));

  const record = (c: Omit<RecordedCall, 'seq' | 'at'>): RecordedCall => {
    const call = { ...c, seq: ++seq, at: Date.now() };
    calls.push(call);
    for (const w of [...waiters])
      if (w.match(call)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(call);
      }
    return call;
  };

  const server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (d) => (raw += d));
    req.on('end', () => handle(req, res, raw));
  });

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
  };

  function parseBody(req: IncomingMessage, raw: string): Record<string, unknown> {
    if ((req.headers['content-type'] ?? '').includes('application/json')) return raw ? JSON.parse(raw) : {};
    const out: Record<string, unknown> = {};
    for (const [k, v] of new URLSearchParams(raw)) {
      try {
        out[k] = k === 'blocks' || k === 'attachments' ? JSON.parse(v) : v;
      } catch {
        out[k] = v;
      }
    }
    return out;
  }

  function handle(req: IncomingMessage, res: ServerResponse, raw: string) {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const body = parseBody(req, raw);
    if (url.pathname.startsWith('/respond/')) {
      const id = url.pathname.slice('/respond/'.length);
      const fail = takeFailure('response_url');
      record({ kind: 'response_url', method: id, body, raw, status: fail?.status ?? 200 });
      if (fail) return json(res, fail.status, { ok: false });
      return json(res, 200, { ok: true });
    }
    if (!url.pathname.startsWith('/api/')) return json(res, 404, { ok: false, error: 'not_found' });
    const method = url.pathname.slice('/api/'.length);
    const fail = takeFailure(method);
    if (fail) {
      record({ kind: 'api', method, body, raw, status: fail.status });
      return json(
        res,
        fail.status,
        { ok: false, error: fail.error ?? (fail.status === 429 ? 'ratelimited' : 'internal_error') },
        fail.retryAfter !== undefined ? { 'retry-after': String(fail.retryAfter) } : {},
      );
    }
    const auth = req.headers.authorization ?? '';
    const expected = method === 'apps.connections.open' ? appToken : botToken;
    const answer =
      auth === `Bearer ${expected}` ? respond(method, body) : { ok: false, error: 'invalid_auth' };
    record({ kind: 'api', method, body, raw, status: 200, answer });
    json(res, 200, answer);
  }

  function respond(method: string, body: Record<string, unknown>): Record<string, unknown> {
    switch (method) {
      case 'auth.test':
        return {
          ok: true,
          url: 'https://fake.slack.test/',
          team: 'Fake',
          user: 'dbwarden',
          team_id: 'T0TEST',
          user_id: 'U0BOT',
          bot_id: 'B0BOT',
        };
      case 'apps.connections.open':
        return { ok: true, url: `ws://127.0.0.1:${port}/link/?ticket=${randomUUID()}&app_id=A0TEST` };
      case 'chat.postMessage': {
        const channel = String(body.channel ?? '');
        if (!channel) return { ok: false, error: 'channel_not_found' };
        if (notInChannel.has(channel)) return { ok: false, error: 'not_in_channel' };
        const ts = `${Math.floor(Date.now() / 1000)}.${String(seq).padStart(6, '0')}`;
        messages.set(ts, {
          channel,
          text: String(body.text ?? ''),
          blocks: (body.blocks as unknown[]) ?? [],
        });
        return { ok: true, channel, ts, message: { text: body.text, blocks: body.blocks } };
      }
      case 'chat.update': {
        const m = messages.get(String(body.ts));
        if (!m || m.channel !== body.channel) return { ok: false, error: 'message_not_found' };
        m.text = String(body.text ?? '');
        m.blocks = (body.blocks as unknown[]) ?? m.blocks;
        return { ok: true, channel: body.channel, ts: body.ts, text: body.text };
      }
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }

  function takeFailure(method: string) {
    const list = failures.get(method);
    const f = list?.[0];
    if (!f) return null;
    if (--f.times <= 0) list.shift();
    return f;
  }

  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, sock, head) => {
    if (!(req.url ?? '').startsWith('/link/')) return sock.destroy();
    wss.handleUpgrade(req, sock, head, (ws) => {
      socket = ws;
      ws.on('message', (data) => {
        const raw = data.toString();
        let msg: { envelope_id?: string; payload?: Record<string, unknown> } = {};
        try {
          msg = JSON.parse(raw);
        } catch {}
        if (msg.envelope_id)
          record({ kind: 'ack', method: msg.envelope_id, body: msg.payload ?? {}, raw, status: 0 });
      });
      ws.on('close', () => {
        if (socket === ws) {
          socket = null;
          socketOpened = new Promise<void>((r) => (socketReady = r));
        }
      });
      ws.send(
        JSON.stringify({
          type: 'hello',
          num_connections: 1,
          debug_info: { host: 'fake-slack', build_number: 1, approximate_connection_time: 18060 },
          connection_info: { app_id: 'A0TEST' },
        }),
      );
      record({ kind: 'connect', method: 'hello', body: {}, raw: req.url ?? '', status: 101 });
      socketReady();
    });
  });

  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;

  const slashPayload = (o: SlashOptions) => {
    const id = randomUUID();
    const responseUrl = `http://127.0.0.1:${port}/respond/${id}`;
    return {
      responseUrl,
      payload: {
        token: 'verification-token-unused',
        team_id: 'T0TEST',
        team_domain: 'fake',
        channel_id: o.channelId ?? 'C0TEAM',
        channel_name: 'ops',
        user_id: o.userId ?? 'U0ALICE',
        user_name: o.userName ?? 'alice',
        command: o.command,
        text: o.text ?? '',
        api_app_id: 'A0TEST',
        is_enterprise_install: 'false',
        response_url: responseUrl,
        trigger_id: `${Date.now()}.1.${id.slice(0, 8)}`,
      },
    };
  };

  const actionPayload = (o: ButtonPress) => {
    const m = messages.get(o.ts);
    if (!m) throw new Error(`fake Slack: no message ${o.ts}`);
    const blocks = o.blocks ?? m.blocks;
    const button = (blocks as { type: string; block_id?: string; elements?: Record<string, unknown>[] }[])
      .flatMap((b) =>
        b.type === 'actions'
          ? (b.elements ?? []).map((e): Record<string, unknown> => ({ ...e, block_id: b.block_id }))
          : [],
      )
      .find((e) => e.action_id === o.actionId);
    if (!button) throw new Error(`fake Slack: message ${o.ts} has no button ${o.actionId}`);
    const id = randomUUID();
    const responseUrl = `http://127.0.0.1:${port}/respond/${id}`;
    const triggerId = o.triggerId ?? `${Date.now()}.1.${id.slice(0, 8)}`;
    const user = o.userId ?? 'U0ALICE';
    const payload = {
      type: 'block_actions',
      user: { id: user, username: o.userName ?? 'alice', name: o.userName ?? 'alice', team_id: 'T0TEST' },
      api_app_id: 'A0TEST',
      token: 'verification-token-unused',
      container: { type: 'message', message_ts: o.ts, channel_id: m.channel, is_ephemeral: false },
      trigger_id: triggerId,
      team: { id: 'T0TEST', domain: 'fake' },
      enterprise: null,
      is_enterprise_install: false,
      channel: { id: m.channel, name: 'ops' },
      message: { type: 'message', user: 'U0BOT', bot_id: 'B0BOT', ts: o.ts, text: m.text, blocks },
      state: { values: {} },
      response_url: responseUrl,
      actions: [{ ...button, action_ts: `${Date.now() / 1000}` }],
    };
    return { payload, responseUrl, triggerId };
  };

  return {
    message: (ts) => messages.get(ts),
    sendBlockAction(o) {
      if (!socket) throw new Error('no Socket Mode client is connected');
      const envelopeId = randomUUID();
      const { payload, responseUrl, triggerId } = actionPayload(o);
      socket.send(
        JSON.stringify({
          envelope_id: envelopeId,
          type: 'interactive',
          accepts_response_payload: false,
          payload,
        }),
      );
      return { envelopeId, responseUrl, triggerId };
    },
    actionForm(o) {
      const { payload, responseUrl, triggerId } = actionPayload(o);
      return {
        body: new URLSearchParams({ payload: JSON.stringify(payload) }).toString(),
        responseUrl,
        triggerId,
      };
    },
    apiUrl: `http://127.0.0.1:${port}/api/`,
    botToken,
    appToken,
    signingSecret,
    calls,
    notInChannel,
    api: (method) => calls.filter((c) => c.kind === 'api' && c.method === method),
    failNext(method, f) {
      const list = failures.get(method) ?? [];
      list.push({ ...f, times: f.times ?? 1 });
      failures.set(method, list);
    },
    sendSlashCommand(o) {
      if (!socket) throw new Error('no Socket Mode client is connected');
      const envelopeId = randomUUID();
      const { payload, responseUrl } = slashPayload(o);
      socket.send(
        JSON.stringify({
          envelope_id: envelopeId,
          type: 'slash_commands',
          accepts_response_payload: true,
          payload,
        }),
      );
      return { envelopeId, responseUrl };
    },
    slashForm(o) {
      const { payload, responseUrl } = slashPayload(o);
      return { body: new URLSearchParams(payload).toString(), responseUrl };
    },
    sign(body, timestamp = Math.floor(Date.now() / 1000), secret = signingSecret) {
      const sig = createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex');
      return {
        'content-type': 'application/x-www-form-urlencoded',
        'x-slack-request-timestamp': String(timestamp),
        'x-slack-signature': `v0=${sig}`,
      };
    },
    mark: (name) => record({ kind: 'mark', method: name, body: {}, raw: '', status: 0 }),
    waitFor(match, timeoutMs = 30_000) {
      const found = calls.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = {
          match,
          resolve: (c: RecordedCall) => {
            clearTimeout(timer);
            resolve(c);
          },
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`fake Slack: no matching call within ${timeoutMs} ms; calls: ${summary()}`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    socketOpen: () => socketOpened,
    dropSocket() {
      socket?.terminate();
    },
    async close() {
      for (const c of wss.clients) c.terminate();
      wss.close();
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
    },
  };

  function summary(): string {
    return calls.map((c) => `${c.seq}:${c.kind}:${c.method}`).join(', ');
  }
}
