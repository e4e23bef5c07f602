/**
 * HTML for the example apps: escaping, the CSRF form field, and the one page the Express and Fastify
 * examples share.
 */

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escape text for an HTML element or a quoted attribute value. */
export const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);

/** The hidden field that carries a form's CSRF token (`_csrf`, where latchkey's csrf() looks). */
export const csrfField = (token: string) => `<input type="hidden" name="_csrf" value="${escapeHtml(token)}">`;

export interface NotePageModel {
  userName: string | undefined;
  visits: number;
  note: string | undefined;
  notice: string | undefined;
  /** A fresh masked CSRF token for this render (`req.csrfToken()`, `request.csrfToken()`). */
  csrfToken: string;
  /** Store mode only: link to the signed-in user's device list. */
  devices?: boolean;
}

/** The one page of the Express and Fastify examples. Every value from the session or the user is escaped. */
export function renderNotePage(framework: string, model: NotePageModel): string {
  const token = csrfField(model.csrfToken);
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
<head><meta charset="utf-8"><title>Latchkey on ${framework}</title>
<style>body { font: 16px/1.5 system-ui, sans-serif; max-width: 36rem; margin: 2rem auto; padding: 0 1rem; }</style>
</head>
<body>
  <h1>Latchkey on ${framework}</h1>
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
