/**
 * Bolt's runtime parts, loaded from their own files. `@slack/bolt`'s index also loads ExpressReceiver (express and
 * ~40 modules) and AwsLambdaReceiver, which dbwarden never uses: ~7 MB of an idle `serve`. Types still come from
 * the package itself (erased at build); the Slack tests run these over the wire, so a Bolt that moves them fails CI.
 */
import type * as Bolt from '@slack/bolt';
import { fromBolt } from './slack-api.js';

export const App: typeof Bolt.App = fromBolt('./App.js').default;
export const HTTPReceiver: typeof Bolt.HTTPReceiver = fromBolt('./receivers/HTTPReceiver.js').default;
export const SocketModeReceiver: typeof Bolt.SocketModeReceiver = fromBolt(
  './receivers/SocketModeReceiver.js',
).default;
