// The mistake Latchkey refuses: changing the session while rendering a Server Component, where
// Next.js cannot set a cookie. The write throws ERR_LATCHKEY_STATE; error.tsx renders it.
import { currentSession } from '../../lib/session';

export default async function WriteInComponent() {
  const session = await currentSession();
  session.set('userName', 'changed-in-a-server-component');
  return <p>unreachable</p>;
}
