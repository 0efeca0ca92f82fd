import { SHARE_LOGIN_PATH } from '../../../protocol/share-api.js';
import { icon, iconSprite } from './file-icons.js';
import { BASE_CSS, contentSecurityPolicy, escapeHtml, renderDocument } from './page-kit.js';

/** What the login form of a password-protected share shows. */
export interface LoginPageModel {
  /** The share's public host name, e.g. `alice.localhost`. */
  title: string;
  /** Where to go after logging in (a path inside the share), sent back as the hidden `next` field. */
  next: string;
  /** Why the last attempt failed, e.g. `Wrong password`. */
  error?: string;
  /** Set when wrong passwords were rate limited: seconds until the next attempt is accepted. */
  retryAfterSeconds?: number;
}

const LOGIN_CSS = `${BASE_CSS}
body{min-height:100vh;display:flex;align-items:center;justify-content:center;padding:1.25rem}
.box{width:100%;max-width:24rem;padding:2rem 1.75rem;background:var(--card);border:1px solid var(--line);border-radius:14px;box-shadow:0 6px 24px rgba(16,24,40,.06)}
.badge{display:flex;width:44px;height:44px;align-items:center;justify-content:center;margin:0 auto 1rem;border-radius:50%;background:var(--accent-bg);color:var(--accent)}
.badge .icon{width:22px;height:22px}
h1{margin:0;font-size:1.2rem;text-align:center;overflow-wrap:anywhere}
.lead{margin:.3rem 0 1.5rem;color:var(--muted);text-align:center;font-size:.9rem}
label{display:block;margin-bottom:.35rem;font-weight:500;font-size:.9rem}
input[type=password]{display:block;width:100%;padding:.6rem .75rem;border:1px solid #cfd4db;border-radius:8px;font:inherit;background:#fff}
input[type=password]:focus{outline:2px solid var(--accent);outline-offset:0;border-color:var(--accent)}
.btn-primary{width:100%;justify-content:center;margin-top:1rem;padding:.6rem}
form{margin:0}
`;

/** The login page's Content-Security-Policy header value (no script at all). */
export const LOGIN_PAGE_CSP = contentSecurityPolicy({ styles: [LOGIN_CSS], scripts: [] });

/** Renders the password form of a protected share. Pure; works without JavaScript. */
export function renderLoginPage(model: LoginPageModel): string {
  const problems: string[] = [];
  if (model.error !== undefined) problems.push(model.error);
  if (model.retryAfterSeconds !== undefined) problems.push(`Too many attempts, try again in ${Math.max(1, Math.ceil(model.retryAfterSeconds))} s.`);
  const alert = problems.length === 0 ? '' : `<p class="alert alert-error" role="alert">${problems.map(escapeHtml).join('<br>')}</p>\n`;
  const body = `${iconSprite(['lock'])}
<main class="box">
<div class="badge">${icon('lock')}</div>
<h1>${escapeHtml(model.title)}</h1>
<p class="lead">This shared folder is protected by a password.</p>
${alert}<form method="post" action="${escapeHtml(SHARE_LOGIN_PATH)}">
<input type="hidden" name="next" value="${escapeHtml(model.next)}">
<label for="password">Password</label>
<input id="password" type="password" name="password" required autofocus autocomplete="current-password">
<button class="btn btn-primary" type="submit">Open folder</button>
</form>
</main>`;
  return renderDocument({ title: `Password required · ${model.title}`, css: LOGIN_CSS, body });
}
