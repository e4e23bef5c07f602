import type { Server } from 'node:http';

/**
 * Listen on HOST:PORT (127.0.0.1:3000 unless set; PORT=0 takes a free port), print
 * `listening on http://<host>:<port>`, and close on SIGINT or SIGTERM.
 */
export function serve(server: Server): void {
  const port = Number(process.env.PORT || 3000);
  const host = process.env.HOST || '127.0.0.1';
  server.listen(port, host, () => {
    const address = server.address();
    const actual = typeof address === 'object' && address ? address.port : port;
    console.log(`listening on http://${host}:${actual}`);
  });

  const stop = () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
