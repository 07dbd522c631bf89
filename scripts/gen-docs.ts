/** Regenerate the README's configuration table and .env.example from src/core/config.ts (`npm run docs`). */
import { readFileSync, writeFileSync } from 'node:fs';
import { configTableMarkdown, envExample } from '../src/core/config.js';

const START = '<!-- config:start -->';
const END = '<!-- config:end -->';
const readme = readFileSync('README.md', 'utf8');
const a = readme.indexOf(START);
const b = readme.indexOf(END);
if (a < 0 || b < a) throw new Error(`README.md needs ${START} … ${END} markers`);
writeFileSync(
  'README.md',
  `${readme.slice(0, a + START.length)}\n${configTableMarkdown()}\n${readme.slice(b)}`,
);
writeFileSync('.env.example', envExample());
console.log('README.md configuration table and .env.example regenerated');
