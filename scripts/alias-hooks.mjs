// `node --import tsx --import ./scripts/alias-hooks.mjs src/cli.ts`: runs from source swap in what the bundle does
// (scripts/aliases.mjs).
import { register } from 'node:module';

register('./aliases.mjs', import.meta.url);
