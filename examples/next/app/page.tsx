// A Server Component: it reads the session; writing would throw (see app/write-in-component).
import { currentSession } from '../lib/session';
import { signIn, signOut } from './actions';

export default async function Home() {
  const session = await currentSession();
  const userName = session.get('userName');
  if (userName !== undefined) {
    return (
      <main>
        <p>
          Signed in as <strong id="user">{userName}</strong>. <a href="/account">Your account</a>
        </p>
        <form action={signOut}>
          <button id="sign-out" type="submit">
            Sign out
          </button>
        </form>
      </main>
    );
  }
  return (
    <main>
      <h1>Sign in</h1>
      <form action={signIn}>
        <input id="user-name" name="userName" placeholder="name" required />
        <input id="password" name="password" type="password" placeholder="password" required />
        <button id="sign-in" type="submit">
          Sign in
        </button>
      </form>
    </main>
  );
}
