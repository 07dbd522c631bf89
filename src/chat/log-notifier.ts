import type { Notifier } from '../core/notifier.js';
import type { Logger } from '../log.js';
import { renderText } from './render-text.js';

/** Posts Reports to the log when no chat is configured: nothing is lost, operators read it in the log drain. */
export function createLogNotifier(logger: Logger): Notifier {
  return {
    name: 'log',
    async post(report) {
      const log = report.level === 'ok' ? logger.info.bind(logger) : logger.warn.bind(logger);
      log({ report: { title: report.title, level: report.level } }, renderText(report, { color: false }));
    },
  };
}
