/**
 * Regenerate what is derived from one source (`npm run docs`): the README's configuration table and .env.example
 * from src/core/config.ts, and the Django client embedded in dbwarden from contrib/django/dbwarden_preflight.py.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { configTableMarkdown, envExample } from '../src/core/config.js';
import { djangoClientModule } from '../src/deploy/django-client.js';

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
writeFileSync(
  'src/deploy/django-client-source.ts',
  djangoClientModule(readFileSync('contrib/django/dbwarden_preflight.py', 'utf8')),
);
console.log('README.md configuration table, .env.example and src/deploy/django-client-source.ts regenerated');
