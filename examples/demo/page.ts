import { csrfField, escapeHtml } from '../shared/html.ts';

export interface PageModel {
  development: boolean;
  signedIn: boolean;
  username: string | null;
  visits: number;
  clocks: { createdAt: string; lastActiveAt: string; idleDeadline: string; absoluteDeadline: string } | null;
  /** Store mode, signed in: the user's sessions. */
  devices: Array<{
    id: string;
    label: string;
    createdAt: string;
    lastSeenAt: string;
    current: boolean;
  }> | null;
}

const STYLE = `
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; color: #1d232a; }
  h1 { margin-bottom: .25rem; } .muted { color: #5b6570; }
  .banner { background: #fff4d6; border: 1px solid #e8c35a; padding: .5rem .75rem; border-radius: 6px; }
  .notice { background: #e6f4ea; border: 1px solid #7cc48f; padding: .5rem .75rem; border-radius: 6px; }
  .card { border: 1px solid #d5dbe1; border-radius: 8px; padding: 1rem 1.25rem; margin: 1rem 0; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; } dt { color: #5b6570; }
  input, button { font: inherit; padding: .35rem .6rem; } code { font-size: .9em; }
  ul { padding-left: 1.1rem; } .device { margin: .5rem 0; } .device form { display: inline; }
`;

function clocksTable(clocks: NonNullable<PageModel['clocks']>): string {
  return `<dl id="clocks">
    <dt>Created</dt><dd><time id="created-at">${clocks.createdAt}</time></dd>
    <dt>Last active</dt><dd><time id="last-active-at">${clocks.lastActiveAt}</time></dd>
    <dt>Idle deadline</dt><dd><time id="idle-deadline">${clocks.idleDeadline}</time></dd>
    <dt>Absolute deadline</dt><dd><time id="absolute-deadline">${clocks.absoluteDeadline}</time></dd>
  </dl>`;
}

function devicesCard(devices: NonNullable<PageModel['devices']>, token: string): string {
  const rows = devices
    .map(
      (device) => `<li class="device"${device.current ? ' id="this-device"' : ''}>
        <strong>${escapeHtml(device.label)}</strong>${device.current ? ' <em>(this device)</em>' : ''}<br>
        <span class="muted">signed in <time>${device.createdAt}</time>, last seen <time>${device.lastSeenAt}</time></span>
        ${
          device.current
            ? ''
            : `<form method="post" action="/devices/revoke">${token}<input type="hidden" name="id" value="${escapeHtml(device.id)}">
               <button type="submit" class="revoke">Sign out this device</button></form>`
        }
      </li>`,
    )
    .join('');
  const others =
    devices.length > 1
      ? `<form method="post" action="/devices/revoke-others">${token}<button type="submit" id="revoke-others">Sign out everywhere else</button></form>`
      : '';
  return `<section class="card" id="devices"><h2>Your devices</h2><ul>${rows}</ul>${others}</section>`;
}

/** The demo's one page. Every dynamic value is escaped. */
export function renderPage(model: PageModel, notice: string | null, csrfToken: string): string {
  // Every form carries a fresh CSRF token (latchkey/csrf); the server refuses a post without one.
  const token = csrfField(csrfToken);
  const banner = model.development
    ? `<p class="banner" id="dev-banner"><strong>Development mode.</strong> Plain-HTTP cookie <code>lk</code>;
       without <code>LATCHKEY_KEYS</code> the key is random and sessions end when the server restarts.</p>`
    : '';
  const status = model.signedIn
    ? `<p id="status">Signed in as <strong id="username">${escapeHtml(model.username ?? '')}</strong>.</p>
       <form method="post" action="/logout">${token}<button type="submit" id="logout">Sign out</button></form>`
    : `<p id="status">You are not signed in.</p>
       <form method="post" action="/login">${token}
         <label>Username <input name="username" id="username-input" required maxlength="40" autocomplete="username"></label>
         <button type="submit" id="login">Sign in</button>
       </form>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Latchkey demo</title><style>${STYLE}</style></head>
<body>
  <h1>Latchkey demo</h1>
  <p class="muted">Sessions sealed with XAES-256-GCM in an HttpOnly cookie; idle and absolute timeouts enforced by the server.</p>
  ${banner}
  ${notice ? `<p class="notice" id="notice">${escapeHtml(notice)}</p>` : ''}
  <section class="card">${status}</section>
  ${model.devices ? devicesCard(model.devices, token) : ''}
  <section class="card">
    <p>Visits in this session: <strong id="visits">${model.visits}</strong></p>
    ${model.clocks ? clocksTable(model.clocks) : '<p class="muted">No session yet.</p>'}
    <p class="muted">The same facts as JSON: <a href="/api/session">/api/session</a></p>
  </section>
</body></html>`;
}
