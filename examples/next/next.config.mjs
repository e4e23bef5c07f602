// The example resolves `latchkey` to this repository's package (its built dist/, through the package's
// exports), so run `npm run build` in the repository root first.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repository = join(here, '..', '..');

/** @type {import('next').NextConfig} */
export default {
  turbopack: { root: repository },
  outputFileTracingRoot: repository,
  serverExternalPackages: ['ioredis'],
};
