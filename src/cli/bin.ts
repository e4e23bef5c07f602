#!/usr/bin/env node
import { run } from './main.ts';

// Piped into `head` (or any reader that stops early): a closed pipe ends the output, not the process.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

process.exitCode = await run(process.argv.slice(2));
