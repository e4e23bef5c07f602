'use server';
// Server Actions: the session is writable here. Next.js refuses an action whose Origin is not this
// host, so a forged cross-site form cannot call them (docs/guides/next.md, CSRF).
import { redirect } from 'next/navigation';
import { currentSession } from '../lib/session';
import { checkPassword } from '../lib/users';

export async function signIn(form: FormData): Promise<void> {
  const userName = String(form.get('userName') ?? '');
  const session = await currentSession();
  if (!checkPassword(userName, String(form.get('password') ?? ''))) {
    session.flash('error', 'Wrong name or password');
    await session.save();
    redirect('/');
  }
  session.set('userName', userName);
  await session.login(userName); // login() saves: a new session, bound to the user
  redirect('/account');
}

export async function signOut(): Promise<void> {
  const session = await currentSession();
  await session.destroy(); // destroy() saves: the cookie is cleared
  redirect('/');
}
