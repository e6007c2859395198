// A real OpenID Connect provider (oidc-provider) for the console's SSO tests.
// Usage: node provider.mjs PORT; CONFIG (JSON in the environment) holds the client
// ({client_id, client_secret, redirect_uri}) and the accounts ({login: {email,
// email_verified}}). Its own development login and consent pages are the interaction.
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const config = JSON.parse(process.env.CONFIG);

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: config.client.client_id,
    client_secret: config.client.client_secret,
    redirect_uris: [config.client.redirect_uri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  async findAccount(ctx, id) {
    const account = config.accounts[id];
    if (!account) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...account }; } };
  },
  cookies: { keys: ['consentry-test-oidc-cookie-key'] },
});
provider.proxy = false;
provider.listen(port, '127.0.0.1', () => { console.log(`ready ${provider.issuer}`); });
