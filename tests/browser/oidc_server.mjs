// A real OpenID provider for the browser tests: panva/oidc-provider with
// its own development login and consent pages, on 127.0.0.1.
//
//   node oidc_server.mjs --port P --client-id ID --client-secret S
//                        --redirect-uri URI [--redirect-uri URI ...]
//
// Prints "issuer http://127.0.0.1:P" once listening. Any login is
// accepted: the account's sub is the login, its email <login>@example.com.
import Provider from 'oidc-provider';

const args = process.argv.slice(2);
const opt = { redirect: [] };
for (let i = 0; i < args.length; i += 2) {
  const [k, v] = [args[i], args[i + 1]];
  if (k === '--port') opt.port = Number(v);
  else if (k === '--client-id') opt.clientId = v;
  else if (k === '--client-secret') opt.secret = v;
  else if (k === '--redirect-uri') opt.redirect.push(v);
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
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true, methods: ['S256'] },
  scopes: ['openid', 'email', 'profile'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: `${id}@example.com`, email_verified: true, name: `User ${id}` };
      },
    };
  },
  cookies: { keys: ['handshake-browser-test-cookie-key'] },
  features: { devInteractions: { enabled: true } },
});
// Development interactions warn on every start: keep stdout for the issuer.
console.warn = (...a) => process.stderr.write(`${a.join(' ')}\n`);

const server = provider.listen(opt.port, '127.0.0.1', () => {
  process.stdout.write(`issuer ${issuer}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
