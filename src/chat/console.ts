import { createInterface } from 'node:readline';
import { asDbwardenError } from '../core/errors.js';
import { errorReport, type Report } from '../core/report.js';
import { type ChatCommand, findCommand } from './commands.js';
import { renderText } from './render-text.js';

export interface ConsoleChatOptions {
  commands: ChatCommand[];
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
  user?: string;
  color?: boolean;
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
            say(`Unknown command ${name.slice(0, 40)}. Type /help for the list.`);
            return;
          }
          shown = '';
          try {
            await command.run(
              rest.join(' '),
              { id: opts.user ?? 'console', name: opts.user ?? 'console', platform: 'console' },
              reply,
            );
          } catch (err) {
            await reply.update(errorReport(`/${command.name} failed`, asDbwardenError(err)));
          }
        })
        .finally(() => rl.prompt());
    });
    rl.on('close', () => {
      queue.then(() => resolve());
    });
  });
}
