// AUTH on the SMTP door: who is logging in, and which identity the session sends as.
//
// Two kinds of password, told apart by their shape (a generated password never
// contains a dot; a ServiceAccount token is a JWT with two), so a generated
// password is never sent to the API server as a token:
// - the identity's generated credentials (username `<namespace>/<identity>`): the
//   session is bound to that identity;
// - a ServiceAccount token (audience postmaster): the username names the identity
//   to send as, `<identity>`, or `<namespace>/<identity>` so that the username of the
//   generated Secret works as well. Identities live in the token's namespace, as on
//   the HTTP door. Whether the ServiceAccount may send as the identity is RBAC,
//   checked by the pipeline for every message.
import { parseSmtpUsername } from './credentials.ts';
import { authUnavailable, isEndpointError, unauthenticated } from './errors.ts';
import type { Caller, Directory, Pipeline } from './types.ts';

export interface SmtpLogin {
  caller: Caller;
  /** The SenderIdentity (in caller.namespace) every message of the session is sent as. */
  identity: string;
  via: 'credentials' | 'token';
}

const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const IDENTITY_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const INVALID = 'Authentication credentials invalid';

/** Resolves with the login, or rejects with an EndpointError. Never puts the password in either. */
export async function authenticate(
  deps: { directory: Directory; pipeline: Pipeline },
  username: string,
  password: string,
): Promise<SmtpLogin> {
  if (!username || !password) throw unauthenticated(INVALID);
  if (password.length < 16_384 && JWT.test(password)) return tokenLogin(deps.pipeline, username, password);
  const found = deps.directory.smtpLogin(username, password);
  if (!found) throw unauthenticated(INVALID);
  return {
    caller: {
      username: `smtp-credentials:${found.namespace}/${found.identity}`,
      namespace: found.namespace,
      groups: [],
      boundIdentity: found.identity,
    },
    identity: found.identity,
    via: 'credentials',
  };
}

async function tokenLogin(pipeline: Pipeline, username: string, token: string): Promise<SmtpLogin> {
  let caller: Caller;
  try {
    caller = await pipeline.authenticateToken(token);
  } catch (err) {
    // 401 (535) or the API server unavailable (454); a surprise counts as the latter: the client retries.
    throw isEndpointError(err) ? err : authUnavailable('the ServiceAccount token', err);
  }
  const named = parseSmtpUsername(username);
  if (named && named.namespace !== caller.namespace) {
    throw unauthenticated(`${INVALID}: a ServiceAccount token of namespace "${caller.namespace}" sends only as identities of that namespace`);
  }
  const identity = named?.identity ?? username;
  if (!IDENTITY_NAME.test(identity)) {
    throw unauthenticated(`${INVALID}: with a token as the password, the username is the SenderIdentity name`);
  }
  return { caller, identity, via: 'token' };
}
