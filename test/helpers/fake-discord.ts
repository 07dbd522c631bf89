import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';

/** One REST request the bot made, as the fake Discord received it. */
export interface RecordedCall {
  method: string;
  /** Path without the /api/v10 prefix, e.g. "/channels/123/messages". */
  path: string;
  query: string;
  authorization: string | undefined;
  /** Raw request body text. */
  raw: string;
  // biome-ignore lint/suspicious/noExplicitAny: JSON from the bot, read by tests
  body: any;
}

/** One gateway frame the bot sent. */
export interface RecordedFrame {
  op: number;
  // biome-ignore lint/suspicious/noExplicitAny: JSON from the bot
  d: any;
  raw: string;
}

interface Injected {
  status: number;
  remaining: number;
  retryAfterS: number;
}

interface StoredCommand {
  id: string;
  application_id: string;
  guild_id?: string;
  version: string;
  type: number;
  name: string;
  description: string;
  options?: unknown[];
  default_member_permissions: null;
  nsfw: boolean;
}

export interface FakeDiscordOptions {
  token: string;
  applicationId: string;
  heartbeatIntervalMs?: number;
}

const snowflake = () =>
  (BigInt(Date.now() - 1420070400000) * 4194304n + BigInt(Math.floor(Math.random() * 4e6))).toString();

/**
 * A small Discord on 127.0.0.1: the REST routes dbwarden uses, recorded, and a gateway WebSocket speaking
 * HELLO / IDENTIFY → READY / heartbeats / RESUME, which can dispatch INTERACTION_CREATE and drop the connection.
 */
export class FakeDiscord extends EventEmitter {
  readonly calls: RecordedCall[] = [];
  readonly frames: RecordedFrame[] = [];
  readonly botUser = {
    id: snowflake(),
    username: 'dbwarden',
    discriminator: '0',
    bot: true,
    avatar: null,
    global_name: null,
  };
  /** Registered commands by scope: "global" or a guild ID. */
  readonly commands = new Map<string, StoredCommand[]>();
  identifies = 0;
  resumes = 0;
  private server: Server;
  private wss = new WebSocketServer({ noServer: true });
  private socket: WebSocket | null = null;
  private sessionId: string | null = null;
  private seq = 0;
  /** Every dispatch of the session, for replay on RESUME like Discord does. */
  private sent: { s: number; t: string; d: unknown }[] = [];
  private inject = new Map<string, Injected>();
  private expiredTokens = new Set<string>();
  /** Messages posted to channels (as last edited), which the bot may read and edit. */
  readonly channelMessages = new Map<string, ReturnType<FakeDiscord['message']>>();
  private port = 0;

  constructor(private readonly opts: FakeDiscordOptions) {
    super();
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('upgrade', (req, socket, head) => {
      if (!req.url?.startsWith('/gateway')) return socket.destroy();
      const accept = () => this.wss.handleUpgrade(req, socket, head, (ws) => this.onGateway(ws));
      if (this.paused) this.held.push(accept);
      else accept();
    });
  }

  /** Start listening on a free port. */
  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** What DISCORD_API_URL should be set to. */
  get apiUrl(): string {
    return `http://127.0.0.1:${this.port}/api`;
  }

  get gatewayUrl(): string {
    return `ws://127.0.0.1:${this.port}/gateway`;
  }

  async stop(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The next `count` requests matching `method path` get `status` (429 comes with Retry-After). */
  failNext(method: string, pathPattern: RegExp | string, status: number, count = 1, retryAfterS = 0.2): void {
    this.inject.set(`${method} ${String(pathPattern)}`, { status, remaining: count, retryAfterS });
    this.injectPatterns.push({ method, pattern: pathPattern, key: `${method} ${String(pathPattern)}` });
  }
  private injectPatterns: { method: string; pattern: RegExp | string; key: string }[] = [];

  /** A gateway outage: new connections hang until `unpauseGateway`, the REST API keeps working. */
  pauseGateway(): void {
    this.paused = true;
  }

  unpauseGateway(): void {
    this.paused = false;
    for (const accept of this.held.splice(0)) accept();
  }
  private paused = false;
  private held: (() => void)[] = [];

  /** Make an interaction token invalid, as Discord does after 15 minutes. */
  expireInteractionToken(token: string): void {
    this.expiredTokens.add(token);
  }

  /** Resolves with the first recorded call (past or future) that matches. */
  waitForCall(match: (c: RecordedCall) => boolean, timeoutMs = 30_000): Promise<RecordedCall> {
    return this.waitFor('call', () => this.calls.find(match), timeoutMs);
  }

  /** Resolves when the gateway session is READY or RESUMED and a connection is open. */
  waitForSession(predicate: () => boolean = () => true, timeoutMs = 30_000): Promise<true> {
    return this.waitFor(
      'session',
      () => (this.socket && this.ready && predicate() ? true : undefined),
      timeoutMs,
    );
  }

  private ready = false;

  private waitFor<T>(event: string, probe: () => T | undefined, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const v = probe();
        if (v === undefined) return false;
        clearTimeout(timer);
        this.off(event, check);
        resolve(v);
        return true;
      };
      const timer = setTimeout(() => {
        this.off(event, check);
        reject(new Error(`fake Discord: nothing matched within ${timeoutMs} ms (waiting for ${event})`));
      }, timeoutMs);
      if (!check()) this.on(event, check);
    });
  }

  /** Send a chat-input command as a user would type it; returns the interaction's id and token. */
  sendCommand(opts: {
    name: string;
    options?: { name: string; type: number; value: unknown }[];
    userId?: string;
    username?: string;
    roles?: string[];
    guildId?: string;
    channelId?: string;
  }): { id: string; token: string } {
    const guildId = opts.guildId ?? '300000000000000001';
    return this.interact(2, opts, guildId, opts.channelId ?? '400000000000000001', {
      data: { id: snowflake(), name: opts.name, type: 1, guild_id: guildId, options: opts.options ?? [] },
    });
  }

  /**
   * Press a button on a message (a message component interaction, type 3, as Discord dispatches it). `message` is
   * the message the button is on: a channel message the bot posted, or an ephemeral one it sent (the bot's follow-up).
   */
  pressButton(opts: {
    // biome-ignore lint/suspicious/noExplicitAny: a message as the fake stores it
    message: any;
    customId: string;
    userId?: string;
    username?: string;
    roles?: string[];
    /** Press again with the same interaction (a replayed dispatch). */
    id?: string;
    token?: string;
  }): { id: string; token: string } {
    return this.interact(3, opts, '300000000000000001', opts.message.channel_id as string, {
      message: opts.message,
      data: { custom_id: opts.customId, component_type: 2 },
    });
  }

  /** Dispatch an interaction of this type by a guild member, as Discord's gateway does: the shared envelope. */
  private interact(
    type: 2 | 3,
    by: { userId?: string; username?: string; roles?: string[]; id?: string; token?: string },
    guildId: string,
    channelId: string,
    rest: Record<string, unknown>,
  ): { id: string; token: string } {
    const id = by.id ?? snowflake();
    const token = by.token ?? `aW50ZXJhY3Rpb24${randomBytes(24).toString('hex')}`;
    const user = {
      id: by.userId ?? '500000000000000001',
      username: by.username ?? 'alice',
      discriminator: '0',
      global_name: 'Alice',
      avatar: null,
    };
    this.dispatch('INTERACTION_CREATE', {
      id,
      application_id: this.opts.applicationId,
      type,
      token,
      version: 1,
      guild_id: guildId,
      channel_id: channelId,
      channel: { id: channelId, type: 0, guild_id: guildId, name: 'ops' },
      member: {
        user,
        roles: by.roles ?? [],
        joined_at: new Date().toISOString(),
        deaf: false,
        mute: false,
        flags: 0,
        permissions: '2248473465835073',
      },
      app_permissions: '2248473465835073',
      locale: 'en-US',
      guild_locale: 'en-US',
      entitlements: [],
      authorizing_integration_owners: { '0': guildId },
      context: 0,
      ...rest,
    });
    return { id, token };
  }

  /** Close the gateway connection: 4000 (resumable) by default, or abruptly with `terminate`. */
  drop(how: { code?: number; terminate?: boolean } = {}): void {
    const s = this.socket;
    this.socket = null;
    this.ready = false;
    if (!s) return;
    if (how.terminate) s.terminate();
    else s.close(how.code ?? 4000, 'fake Discord drop');
  }

  /** Send a dispatch event; kept for replay when the bot resumes. */
  dispatch(t: string, d: unknown): void {
    const s = ++this.seq;
    this.sent.push({ s, t, d });
    this.socket?.send(JSON.stringify({ op: 0, t, s, d }));
  }

  private onGateway(ws: WebSocket): void {
    // A new connection replaces the old one, like a client reconnecting.
    this.socket = ws;
    this.ready = false;
    ws.send(
      JSON.stringify({
        op: 10,
        d: { heartbeat_interval: this.opts.heartbeatIntervalMs ?? 2000 },
        s: null,
        t: null,
      }),
    );
    ws.on('message', (data) => {
      const raw = data.toString();
      // biome-ignore lint/suspicious/noExplicitAny: JSON from the bot
      const frame = JSON.parse(raw) as { op: number; d: any };
      this.frames.push({ op: frame.op, d: frame.d, raw });
      switch (frame.op) {
        case 1:
          ws.send(JSON.stringify({ op: 11, d: null, s: null, t: null }));
          break;
        case 2: {
          if (frame.d?.token !== this.opts.token) return ws.close(4004, 'Authentication failed.');
          this.identifies++;
          this.sessionId = randomBytes(16).toString('hex');
          this.sent = [];
          this.seq = 0;
          this.socket = ws;
          this.ready = true;
          this.dispatch('READY', {
            v: 10,
            user: this.botUser,
            guilds: [],
            session_id: this.sessionId,
            resume_gateway_url: `${this.gatewayUrl}-resume`,
            shard: frame.d.shard,
            application: { id: this.opts.applicationId, flags: 0 },
          });
          this.emit('session');
          break;
        }
        case 6: {
          if (frame.d?.token !== this.opts.token) return ws.close(4004, 'Authentication failed.');
          if (frame.d.session_id !== this.sessionId) {
            ws.send(JSON.stringify({ op: 9, d: false, s: null, t: null }));
            return;
          }
          this.resumes++;
          this.socket = ws;
          this.ready = true;
          for (const e of this.sent.filter((e) => e.s > frame.d.seq))
            ws.send(JSON.stringify({ op: 0, t: e.t, s: e.s, d: e.d }));
          this.dispatch('RESUMED', {});
          this.emit('session');
          break;
        }
      }
    });
    ws.on('close', () => {
      if (this.socket === ws) {
        this.socket = null;
        this.ready = false;
      }
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://x');
    const path = decodeURIComponent(url.pathname).replace(/^\/api(\/v\d+)?/, '');
    let body: unknown = null;
    try {
      body = raw ? JSON.parse(raw) : null;
    } catch {
      body = raw;
    }
    const method = req.method ?? 'GET';
    const call: RecordedCall = {
      method,
      path,
      query: url.search,
      authorization: req.headers.authorization,
      raw,
      body,
    };
    this.calls.push(call);
    const send = (status: number, json?: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(json === undefined ? undefined : JSON.stringify(json));
      // Tell waiters after the response is on its way, so the bot has seen it by the time tests look.
      setImmediate(() => this.emit('call'));
    };

    for (const p of this.injectPatterns) {
      const inj = this.inject.get(p.key);
      const hit = typeof p.pattern === 'string' ? path === p.pattern : p.pattern.test(path);
      if (inj && inj.remaining > 0 && p.method === method && hit) {
        inj.remaining--;
        if (inj.status === 429)
          return send(
            429,
            { message: 'You are being rate limited.', retry_after: inj.retryAfterS, global: false },
            { 'retry-after': String(inj.retryAfterS), 'x-ratelimit-scope': 'user' },
          );
        return send(inj.status, { message: 'Internal Server Error', code: 0 });
      }
    }

    const bot = req.headers.authorization === `Bot ${this.opts.token}`;
    const unauthorised = () => send(401, { message: '401: Unauthorized', code: 0 });

    if (method === 'GET' && path === '/gateway/bot') {
      if (!bot) return unauthorised();
      return send(200, {
        url: this.gatewayUrl,
        shards: 1,
        session_start_limit: { total: 1000, remaining: 999, reset_after: 0, max_concurrency: 1 },
      });
    }
    if (method === 'GET' && path === '/users/@me') return bot ? send(200, this.botUser) : unauthorised();

    const commands = /^\/applications\/(\d+)(?:\/guilds\/(\d+))?\/commands$/.exec(path);
    if (commands) {
      const m = commands;
      if (!bot) return unauthorised();
      if (m[1] !== this.opts.applicationId) return send(403, { message: 'Missing Access', code: 50001 });
      const scope = m[2] ?? 'global';
      if (method === 'GET') return send(200, this.commands.get(scope) ?? []);
      if (method === 'PUT') {
        const list = (body as Omit<StoredCommand, 'id'>[]).map((c) => ({
          ...c,
          id: snowflake(),
          application_id: this.opts.applicationId,
          ...(m[2] ? { guild_id: m[2] } : {}),
          version: snowflake(),
          type: c.type ?? 1,
          default_member_permissions: null,
          nsfw: false,
        }));
        this.commands.set(scope, list);
        return send(200, list);
      }
    }

    const callback = /^\/interactions\/(\d+)\/([^/]+)\/callback$/.exec(path);
    if (method === 'POST' && callback) {
      if (this.expiredTokens.has(callback[2]!))
        return send(404, { message: 'Unknown interaction', code: 10062 });
      res.writeHead(204);
      res.end();
      setImmediate(() => this.emit('call'));
      return;
    }

    const webhook = /^\/webhooks\/(\d+)\/([^/]+)(?:\/messages\/(@original|\d+))?$/.exec(path);
    if (webhook) {
      const m = webhook;
      if (this.expiredTokens.has(m[2]!)) return send(401, { message: 'Invalid Webhook Token', code: 50027 });
      if ((method === 'PATCH' && m[3]) || (method === 'POST' && !m[3]))
        return send(200, this.message('400000000000000001', body));
    }

    const channel = /^\/channels\/(\d+)\/messages$/.exec(path);
    if (method === 'POST' && channel) {
      if (!bot) return unauthorised();
      const posted = this.message(channel[1]!, body);
      this.channelMessages.set(posted.id, posted);
      return send(200, posted);
    }
    const edit = /^\/channels\/(\d+)\/messages\/(\d+)$/.exec(path);
    if ((method === 'PATCH' || method === 'GET') && edit) {
      if (!bot) return unauthorised();
      const old = this.channelMessages.get(edit[2]!);
      if (!old) return send(404, { message: 'Unknown Message', code: 10008 });
      if (method === 'GET') return send(200, old);
      const edited = { ...this.message(edit[1]!, { ...old, ...(body as object) }), id: edit[2]! };
      this.channelMessages.set(edit[2]!, edited);
      return send(200, edited);
    }

    return send(404, { message: '404: Not Found', code: 0 });
  }

  message(channelId: string, body: unknown) {
    const b = (body ?? {}) as {
      content?: string;
      embeds?: unknown[];
      flags?: number;
      components?: unknown[];
    };
    return {
      id: snowflake(),
      type: 0,
      channel_id: channelId,
      author: this.botUser,
      content: b.content ?? '',
      embeds: b.embeds ?? [],
      attachments: [],
      mentions: [],
      mention_roles: [],
      mention_everyone: false,
      pinned: false,
      tts: false,
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      flags: b.flags ?? 0,
      components: b.components ?? [],
      webhook_id: this.opts.applicationId,
    };
  }
}
