import type { Notifier } from '../../core/notifier.js';
import { renderText } from './render-text.js';

/** Posts Reports as terminal text: the channel when no chat is configured (and in the demo). */
export function createConsoleNotifier(
  output: NodeJS.WritableStream,
  opts: { color?: boolean } = {},
): Notifier {
  return {
    name: 'console',
    async post(report) {
      output.write(`\n${renderText(report, { color: opts.color ?? false })}\n`);
    },
  };
}
