import type { BlockAction, ButtonAction, RespondFn, types } from '@slack/bolt';
import { DbwardenError } from '../../core/errors.js';
import type { Report } from '../../core/report.js';
import { createRedactor, type Redactor } from '../../core/secrets.js';
import type { ChatAdapter, ChatDeps } from '../adapter.js';
import { App, HTTPReceiver, SocketModeReceiver } from './bolt.js';
import { renderSlack, SLACK_ACTION_PREFIX, withNote } from './render-slack.js';
import { boltLogger, SlackCallFailed, slackWebClient, withSlackRetry } from './slack-api.js';
import { slackReply } from './slack-reply.js';

/** Where Slack's HTTP mode posts slash commands (the manifest's request URLs end with this path). */
export const SLACK_EVENTS_PATH = '/slack/events';

type KnownBlock = types.KnownBlock;

export interface SlackBot extends ChatAdapter {
  mode: 'socket' | 'http';
}

/** Start the Slack bot: verify the token, then serve every ChatCommand over Socket Mode or HTTP. */
export async function startSlack(opts: ChatDeps): Promise<SlackBot> {
  const slack = opts.config.slack;
  if (!slack) throw new DbwardenError('config', 'Slack is not configured', 'Set SLACK_BOT_TOKEN');
  const logger = opts.logger.child({ component: 'slack' });
  const tokens = createRedactor([slack.botToken, slack.appToken, slack.signingSecret]);
  const redact: Redactor = (s) => tokens(opts.redact ? opts.redact(s) : s);
  const bLogger = boltLogger(logger);
  const apiUrl = slack.apiUrl ? { slackApiUrl: slack.apiUrl } : {};
  const client = slackWebClient(slack.botToken, slack.apiUrl, logger);
  const mode = slack.appToken ? 'socket' : 'http';
  let up = false;
  let stopped = false;

  let receiver: InstanceType<typeof SocketModeReceiver> | InstanceType<typeof HTTPReceiver>;
  if (slack.appToken) {
    const socket = new SocketModeReceiver({
      appToken: slack.appToken,
      logger: bLogger,
      // apps.connections.open goes to SLACK_API_URL too.
      installerOptions: { clientOptions: { ...apiUrl } },
    });
    socket.client.on('connected', () => (up = true));
    socket.client.on('disconnected', () => (up = false));
    receiver = socket;
  } else {
    if (!opts.http) throw new DbwardenError('config', 'Slack HTTP mode needs the HTTP server', 'Set PORT');
    receiver = new HTTPReceiver({
      signingSecret: slack.signingSecret ?? '',
      endpoints: SLACK_EVENTS_PATH,
      logger: bLogger,
    });
  }
  const app = new App({
    token: slack.botToken,
    receiver,
    logger: bLogger,
    clientOptions: { ...apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true },
    deferInitialization: true,
  });
  app.error(async (err) => {
    logger.error({ err: redact(String(err?.message ?? err)) }, 'Slack listener failed');
  });

  const inflight = new Set<Promise<void>>();
  for (const command of opts.commands) {
    app.command(`/${command.name}`, async ({ command: body, ack, respond }) => {
      // Slack gives 3 seconds: acknowledge first, then do the work.
      await ack();
      if (stopped) return;
      // Every log line of this command carries what it was and who asked (trigger_id: Slack's request id).
      const log = logger.child({ command: command.name, user: body.user_id, request: body.trigger_id });
      // A refusal or a private answer goes through response_url as ephemeral; the channel sees only the rest.
      const open = ({ ephemeral }: { ephemeral: boolean }) =>
        slackReply({
          client,
          respond,
          channel: body.channel_id,
          ephemeral,
          environment: opts.environment,
          logger: log,
          redact,
          ...(opts.tuning?.slackRetry ? { policy: opts.tuning.slackRetry } : {}),
        });
      const user = { id: body.user_id, name: body.user_name, platform: 'slack' };
      const run = opts.runner
        .run(command, body.text, user, open, {
          logger: log,
          editIntervalMs: opts.tuning?.editIntervalMs ?? 1000,
        })
        .finally(() => inflight.delete(run));
      inflight.add(run);
      await run;
    });
  }

  app.action({ action_id: new RegExp(`^${SLACK_ACTION_PREFIX.replace('.', '\\.')}`) }, async (args) => {
    // Slack gives 3 seconds here too: acknowledge, then act.
    await args.ack();
    if (stopped || args.body.type !== 'block_actions' || args.action.type !== 'button') return;
    if (!('action_id' in args.action)) return;
    const run = pressed(args.body as BlockAction, args.action as ButtonAction, args.respond).finally(() =>
      inflight.delete(run),
    );
    inflight.add(run);
    await run;
  });

  /** One button press: the neutral dispatcher decides; here only how Slack answers and edits. */
  async function pressed(body: BlockAction, action: ButtonAction, respond: RespondFn): Promise<void> {
    const channel = body.container?.channel_id ?? body.channel?.id ?? '';
    const ts = body.container?.message_ts ?? body.message?.ts ?? '';
    const log = logger.child({ action: action.action_id, user: body.user.id, request: body.trigger_id });
    let blocks = (body.message?.blocks ?? []) as KnownBlock[];
    const text = String(body.message?.text ?? '');
    const retry = { logger: log, ...(opts.tuning?.slackRetry ? { policy: opts.tuning.slackRetry } : {}) };
    const safe = (report: Report) => {
      const r = renderSlack(report, { environment: opts.environment });
      return { text: redact(r.text), blocks: JSON.parse(redact(JSON.stringify(r.blocks))) };
    };
    if (!opts.actions) {
      log.warn('button pressed, but no action handler is wired');
      return;
    }
    await opts.actions.handle(
      {
        id: action.action_id.slice(SLACK_ACTION_PREFIX.length),
        value: action.value ?? '',
        user: {
          id: body.user.id,
          name: body.user.username ?? body.user.name ?? body.user.id,
          platform: 'slack',
        },
        pressId: body.trigger_id ?? `${body.user.id}:${action.action_ts}`,
        messageKey: `${channel}:${ts}`,
        // Slack showed the button's confirm dialog before sending the press.
        confirmed: true,
      },
      {
        async private(report) {
          await withSlackRetry(
            'response_url',
            () => respond({ response_type: 'ephemeral', replace_original: false, ...safe(report) }),
            retry,
          );
        },
        async note(note, close) {
          blocks = withNote(blocks, redact(note.text), close);
          const at = blocks;
          await withSlackRetry(
            'chat.update',
            () => client.chat.update({ channel, ts, text, blocks: at }),
            retry,
          );
        },
      },
    );
  }

  try {
    await app.init();
  } catch (err) {
    throw slackStartError(err, 'auth.test');
  }
  if (receiver instanceof SocketModeReceiver) {
    try {
      await receiver.start();
    } catch (err) {
      throw slackStartError(err, 'apps.connections.open');
    }
    up = true;
  } else {
    const http = receiver;
    opts.http!.route('POST', SLACK_EVENTS_PATH, (req, res) => {
      if (stopped) {
        res.writeHead(503).end();
        return;
      }
      http.requestListener(req, res);
    });
    up = true;
  }
  logger.info(
    { mode },
    `Slack bot running (${mode === 'socket' ? 'Socket Mode' : `HTTP, POST ${SLACK_EVENTS_PATH}`})`,
  );

  return {
    name: 'slack',
    mode,
    connected: () => up && !stopped,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (receiver instanceof SocketModeReceiver) await receiver.stop();
      up = false;
      await Promise.allSettled([...inflight]);
    },
  };
}

/** A failed auth.test (bot token) or apps.connections.open (app token) as a readable error naming the token. */
function slackStartError(err: unknown, method: 'auth.test' | 'apps.connections.open'): DbwardenError {
  const code = (err as { data?: { error?: string } })?.data?.error;
  if (code) return new SlackCallFailed(method, code, 1);
  return new DbwardenError(
    'slack-unreachable',
    `Slack could not be reached: ${(err as Error)?.message ?? String(err)}`,
    'Check the network and SLACK_API_URL',
  );
}
