// Next.js 16 proxy (middleware.ts in Next 15): refresh rolling sessions and guard /account.
import { withSession } from 'latchkey/next';
import { type NextRequest, NextResponse } from 'next/server';
import { sessions } from './lib/session';

export const proxy = withSession(sessions, (request: NextRequest, session) => {
  if (request.nextUrl.pathname.startsWith('/account') && session.userId === undefined) {
    return NextResponse.redirect(new URL('/', request.url));
  }
  return NextResponse.next();
});

export const config = {
  // Pages only: not Next's assets.
  matcher: ['/((?!_next/|favicon.ico).*)'],
};
