// Reached only with a session: proxy.ts sends everyone else to the sign-in page.
import { currentSession } from '../../lib/session';
import { signOut } from '../actions';

export default async function Account() {
  const session = await currentSession();
  return (
    <main>
      <h1>
        Account of <span id="user">{session.get('userName')}</span>
      </h1>
      <p>
        Last active <time id="last-active">{session.lastActiveAt}</time>; signed out after{' '}
        <time id="idle-deadline">{session.idleDeadline}</time> without a visit.
      </p>
      <form action={signOut}>
        <button id="sign-out" type="submit">
          Sign out
        </button>
      </form>
    </main>
  );
}
