import { createServer } from 'node:http';
import { createDemo } from './app.ts';

const keys = process.env.LATCHKEY_KEYS || undefined;
const production = process.env.NODE_ENV === 'production';
// Plain HTTP unless told this runs in production behind an HTTPS proxy.
const development = !production;
const { handler } = createDemo({ keys, development });

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';
const server = createServer(handler);
server.listen(port, host, () => {
  const address = server.address();
  const where = typeof address === 'object' && address ? `http://${host}:${address.port}/` : String(address);
  if (development) {
    console.log(
      `Latchkey demo in DEVELOPMENT mode: plain-HTTP cookie 'lk'` +
        (keys ? ', keys from LATCHKEY_KEYS.' : ', an ephemeral key (sessions end when the server stops).'),
    );
  } else {
    console.log("Latchkey demo in production mode: cookie '__Host-lk', Secure; serve it behind HTTPS.");
  }
  console.log(`Listening on ${where}`);
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
