#!/usr/bin/env node
// The `postmaster` (and `kubectl-postmaster`) executable. In a checkout, Node
// runs the TypeScript sources directly; under node_modules, where Node strips
// no types, it runs the compiled dist/ (`npm run build`).
import { existsSync } from 'node:fs';
import process from 'node:process';
import { URL } from 'node:url';

const root = new URL('..', import.meta.url);
const built = new URL('dist/cli/main.js', root);
const installed = import.meta.url.includes('/node_modules/');
const entry = installed && existsSync(built) ? built : new URL('src/cli/main.ts', root);
const { main, processIo } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2), processIo());
