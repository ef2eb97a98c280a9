// A real OpenID provider for the browser tests: panva/oidc-provider with
// its own development login and consent pages, on 127.0.0.1 over http.
//
//   node oidc_server.mjs --port P --client-id ID --client-secret S
//                        --redirect-uri URI [--redirect-uri URI ...]
//                        [--access-ttl S]
//
// Issuer exactly http://127.0.0.1:P; one confidential client
// (client_secret_basic: oidc-provider accepts only the method a client is
// registered with), code flow with PKCE S256 required, refresh tokens for
// every code grant (rotated on each use: a used refresh token presented
// again is refused and revokes the grant), access tokens that live
// --access-ttl seconds (default 3600), RFC 7009 revocation. Any login is
// accepted: the account's sub is the login, its email
// <login>@example.com, its name "User <login>".
//
// Prints exactly one line, "issuer http://127.0.0.1:P", to stdout once
// listening; everything else (oidc-provider's development notices and
// warnings) goes to stderr. Exits 0 on SIGTERM or SIGINT.
import { format } from 'node:util';

// oidc-provider prints its NOTICEs with console.info (stdout) and its
// WARNINGs with console.warn: keep stdout for the issuer line alone.
for (const name of ['log', 'info', 'warn', 'debug']) {
  console[name] = (...a) => process.stderr.write(`${format(...a)}\n`);
}

const { default: Provider } = await import('oidc-provider');

const args = process.argv.slice(2);
const opt = { redirect: [], accessTtl: 3600 };
for (let i = 0; i < args.length; i += 2) {
  const [k, v] = [args[i], args[i + 1]];
  if (v === undefined) { console.error(`oidc_server: ${k} needs a value`); process.exit(2); }
  if (k === '--port') opt.port = Number(v);
  else if (k === '--client-id') opt.clientId = v;
  else if (k === '--client-secret') opt.secret = v;
  else if (k === '--redirect-uri') opt.redirect.push(v);
  else if (k === '--access-ttl') opt.accessTtl = Number(v);
  else { console.error(`oidc_server: unknown argument ${k}`); process.exit(2); }
}
if (!opt.port || !opt.clientId || !opt.secret || !opt.redirect.length) {
  console.error('oidc_server: --port, --client-id, --client-secret and --redirect-uri are required');
  process.exit(2);
}

const issuer = `http://127.0.0.1:${opt.port}`;
const provider = new Provider(issuer, {
  clients: [{
    client_id: opt.clientId,
    client_secret: opt.secret,
    redirect_uris: opt.redirect,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true, methods: ['S256'] },
  scopes: ['openid', 'email', 'profile', 'offline_access'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: `${id}@example.com`, email_verified: true, name: `User ${id}` };
      },
    };
  },
  ttl: { AccessToken: opt.accessTtl },
  // Refresh tokens without the offline_access + prompt=consent dance,
  // rotated on every use.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  // Cookies are signed with this key; over http they carry no Secure flag.
  cookies: { keys: ['handshake-browser-test-cookie-key'] },
  features: { devInteractions: { enabled: true }, revocation: { enabled: true } },
});

const server = provider.listen(opt.port, '127.0.0.1', () => {
  process.stdout.write(`issuer ${issuer}\n`);
});
server.on('error', (e) => { console.error(`oidc_server: ${e.message}`); process.exit(1); });

function stop() {
  // A browser keeps connections alive: close them, or close() waits on them.
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
