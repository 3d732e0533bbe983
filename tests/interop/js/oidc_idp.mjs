// A real OpenID provider for Cognate's federation tests: node-oidc-provider (a certified
// OP) on the loopback interface, with its development login and consent pages, which a
// headless Chromium completes (any password is accepted).
//
//   node oidc_idp.mjs PORT CONFIG_JSON
//
// CONFIG_JSON: {
//   "clients": [ oidc-provider client metadata: client_id, client_secret, redirect_uris,
//                token_endpoint_auth_method, id_token_signed_response_alg, … ],
//   "kid": "key-1",          the signing key's id (a restart with another kid = rotation)
//   "alg": "RS256" | "ES256" the signing key's algorithm (default RS256)
//   "users": { login: claims, … } more accounts (or other claims for alice and bob): email,
//            email_verified, given_name, family_name, groups
// }
//
// The issuer is http://127.0.0.1:PORT. When it listens, one line goes to stdout:
//   oidc-provider listening on http://127.0.0.1:PORT
//
// Users: alice and bob below, and those of CONFIG_JSON's users; any other login is a user of its own name with an
// example.test email. Scope `email` gives email and email_verified, `profile` gives
// given_name, family_name, name and the `groups` array.

import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const DEFAULT_USERS = {
  alice: {
    email: 'alice@example.test', email_verified: true, given_name: 'Alice', family_name: 'Liddell',
    groups: ['admins', 'readers'],
  },
  bob: {
    email: 'bob@example.test', email_verified: false, given_name: 'Bob', family_name: 'Builder',
    groups: ['readers'],
  },
};

function fail(message) {
  process.stderr.write(`oidc_idp: ${message}\n`);
  process.exit(2);
}

const [portText, configText] = process.argv.slice(2);
const port = Number.parseInt(portText ?? '', 10);
if (!Number.isInteger(port) || port <= 0 || port > 65535) fail('usage: oidc_idp.mjs PORT CONFIG_JSON');
let config;
try {
  config = JSON.parse(configText ?? '');
} catch (e) {
  fail(`CONFIG_JSON is not JSON: ${e.message}`);
}
if (!Array.isArray(config.clients) || config.clients.length === 0) fail('CONFIG_JSON needs a clients array');

if (config.users !== undefined && (typeof config.users !== 'object' || Array.isArray(config.users))) {
  fail('CONFIG_JSON users must be an object of login -> claims');
}
const USERS = { ...DEFAULT_USERS, ...(config.users ?? {}) };

const alg = config.alg ?? 'RS256';
const kid = config.kid ?? 'key-1';
const keyPair = alg === 'ES256'
  ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
  : generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...keyPair.privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };

const issuer = `http://127.0.0.1:${port}`;

function accountFor(login) {
  const known = USERS[login];
  const claims = known ?? {
    email: `${login}@example.test`, email_verified: true, given_name: login, family_name: 'Example', groups: [],
  };
  return {
    accountId: login,
    async claims() {
      return { sub: login, name: `${claims.given_name} ${claims.family_name}`, ...claims };
    },
  };
}

const provider = new Provider(issuer, {
  clients: config.clients,
  jwks: { keys: [jwk] },
  async findAccount(_ctx, sub) {
    return accountFor(sub);
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'groups'],
  },
  // Every client may use PKCE; public clients (auth method none) must.
  pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' },
  features: { devInteractions: { enabled: true } },
  // Fixed cookie keys: a restart (key rotation) keeps browser cookies readable.
  cookies: { keys: ['cognate-interop-cookie-key'] },
  ttl: { AccessToken: 600, AuthorizationCode: 120, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 },
});

// Development-mode warnings (dev interactions, in-memory adapter) go to stderr, not the
// ready line's stdout.
provider.on('server_error', (_ctx, err) => process.stderr.write(`oidc_idp: server error: ${err.stack}\n`));

const server = provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`oidc-provider listening on ${issuer}\n`);
});
server.on('error', (e) => fail(`cannot listen on ${port}: ${e.message}`));

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
