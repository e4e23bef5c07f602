/** The example's one HTML page. Every value from the session or the user is escaped. */

export interface PageModel {
  userName: string | undefined;
  visits: number;
  note: string | undefined;
  notice: string | undefined;
  /** A fresh masked CSRF token for this render (req.csrfToken()). */
  csrfToken: string;
  /** Store mode only: where the device list is. */
  devices: boolean;
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);

export function renderPage(model: PageModel): string {
  const token = `<input type="hidden" name="_csrf" value="${escapeHtml(model.csrfToken)}">`;
  const devices = model.devices ? ' <a href="/api/devices">Your devices</a>' : '';
  const account = model.userName
    ? `<p>Signed in as <strong id="user-name">${escapeHtml(model.userName)}</strong>.${devices}</p>
       <form method="post" action="/logout">${token}<button type="submit">Sign out</button></form>`
    : `<p>You are not signed in.</p>
       <form method="post" action="/login">${token}
         <label>Name <input name="userName" required maxlength="40" autocomplete="username"></label>
         <button type="submit">Sign in</button>
       </form>`;
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Latchkey on Express</title>
<style>body { font: 16px/1.5 system-ui, sans-serif; max-width: 36rem; margin: 2rem auto; padding: 0 1rem; }</style>
</head>
<body>
  <h1>Latchkey on Express</h1>
  ${model.notice ? `<p id="notice">${escapeHtml(model.notice)}</p>` : ''}
  <p>You have loaded this page <strong id="visits">${model.visits}</strong> time(s) in this session.</p>
  ${account}
  <h2>A note, kept in your session</h2>
  <p id="note">${model.note ? escapeHtml(model.note) : '<em>(none yet)</em>'}</p>
  <form method="post" action="/note">${token}
    <input name="note" maxlength="200"> <button type="submit">Save</button>
  </form>
</body>
</html>
`;
}
