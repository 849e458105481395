// The auth options of the nodemailer pool: a username and password, or XOAUTH2
// with tokens from providers/oauth2 (the same cache the connection test uses).
// XOAUTH2 runs as a custom handler rather than nodemailer's own, because
// nodemailer renews a token only after Gmail's 334 challenge: Exchange Online
// answers a stale token with 535 at once. Here a refused cached token is
// renewed once on the same connection, as the connection test does.
import type { SMTPPoolOptions } from 'nodemailer/lib/smtp-pool';
import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import { accessToken } from '../oauth2/token.ts';
import type { Login, OAuth2Login } from '../types.ts';
import { authDisabled, xoauth2Response } from './xoauth2.ts';

const CUSTOM_METHOD = 'POSTMASTER-XOAUTH2';

export function transportAuth(auth: Login | OAuth2Login | undefined): Pick<SMTPPoolOptions, 'auth' | 'customAuth'> {
  if (!auth) return {};
  if (!('oauth2' in auth)) return { auth: { user: auth.username, pass: auth.password } };
  const { user, oauth2: grant } = auth;
  const handler = async (ctx: SMTPConnection.CustomAuthenticationContext): Promise<void> => {
    const attempt = async (renew: boolean) => {
      const token = await accessToken(grant, { renew });
      let reply = await ctx.sendCommand(`AUTH XOAUTH2 ${xoauth2Response(user, token.token)}`);
      // Gmail's error challenge wants an empty line before it says 535.
      if (reply.status === 334) reply = await ctx.sendCommand('');
      return { reply, fresh: token.fresh };
    };
    const first = await attempt(false);
    let reply = first.reply;
    if (reply.status >= 500 && !first.fresh && !authDisabled(reply.response)) reply = (await attempt(true)).reply;
    if (reply.status === 235) ctx.resolve();
    else ctx.reject(new Error(reply.response));
  };
  // Under its own name: nodemailer replaces a method called XOAUTH2 by PLAIN when it has no token generator of
  // its own. A custom method gets credentials from user and pass; the pass is a placeholder, never sent.
  return { auth: { user, pass: 'xoauth2', method: CUSTOM_METHOD }, customAuth: { [CUSTOM_METHOD]: handler } };
}
