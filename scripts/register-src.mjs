// `node --import ./scripts/register-src.mjs app.ts`: run TypeScript through tsx, with `latchkey` and
// `latchkey/<subpath>` resolved to src/ (scripts/resolve-src.mjs). Only for this repository's tests,
// demo, examples and benchmarks; apps that install the package import the built dist/.
import { register } from 'node:module';
import 'tsx';

// Registered after tsx, so it resolves first; tsx then loads the .ts file it points to.
register('./resolve-src.mjs', import.meta.url);
