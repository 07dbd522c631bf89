import { createInterface } from 'node:readline';
import { echo } from '../../core/echo.js';
import type { Logger } from '../../core/log.js';
import type { Report } from '../../core/report.js';
import { type ChatCommand, findCommand } from '../commands.js';
import type { CommandRunner } from '../run-command.js';
import { renderText } from './render-text.js';

export interface ConsoleChatOptions {
  commands: readonly ChatCommand[];
  runner: CommandRunner;
  logger: Logger;
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
  user?: string;
  color?: boolean;
  /** Closes the chat (serve stopping on a signal). */
  signal?: AbortSignal;
}

/** The local chat: type /db-status and friends in a terminal and read the same Reports the chat apps get. */
export function runConsoleChat(opts: ConsoleChatOptions): Promise<void> {
  const output = opts.output ?? process.stdout;
  const input = opts.input ?? process.stdin;
  const rl = createInterface({ input, output, terminal: Boolean((input as { isTTY?: boolean }).isTTY) });
  const color = opts.color ?? Boolean((output as { isTTY?: boolean }).isTTY);
  const say = (text: string) => output.write(`${text}\n`);
  const help = () =>
    say(
      [
        'Commands:',
        ...opts.commands.map((c) => `  /${c.name}${c.usage ? ` ${c.usage}` : ''}  — ${c.description}`),
        '  /help  — this list',
        '  /quit  — leave',
      ].join('\n'),
    );
  let shown = '';
  const reply = {
    async update(report: Report) {
      // On a terminal, progress updates redraw in place of the previous one.
      const text = renderText(report, { color });
      if (shown && (output as { isTTY?: boolean }).isTTY && report.progress) {
        output.write(`\x1b[${shown.split('\n').length}F\x1b[J`);
      }
      say(text);
      shown = report.progress ? text : '';
    },
  };
  help();
  rl.setPrompt('dbwarden> ');
  rl.prompt();
  let queue = Promise.resolve();
  return new Promise((resolve) => {
    rl.on('line', (line) => {
      queue = queue
        .then(async () => {
          const text = line.trim();
          if (!text) return;
          const [name = '', ...rest] = text.split(/\s+/);
          if (name === '/quit' || name === '/exit') {
            rl.close();
            return;
          }
          if (name === '/help') {
            help();
            return;
          }
          const command = name.startsWith('/') ? findCommand(opts.commands, name) : undefined;
          if (!command) {
            say(`Unknown command ${echo(name, 40)}. Type /help for the list.`);
            return;
          }
          shown = '';
          const user = { id: opts.user ?? 'console', name: opts.user ?? 'console', platform: 'console' };
          // One person at the terminal: a private answer is just text. A terminal redraws progress in place,
          // so there is no need to hold edits back.
          await opts.runner.run(command, rest.join(' '), user, () => reply, {
            logger: opts.logger.child({ chat: 'console', command: command.name }),
            editIntervalMs: 0,
          });
        })
        .finally(() => rl.prompt());
    });
    opts.signal?.addEventListener('abort', () => {
      rl.close();
      // Let go of the terminal so the process can exit.
      if (input === process.stdin) process.stdin.destroy();
    });
    rl.on('close', () => {
      queue.then(() => resolve());
    });
  });
}
