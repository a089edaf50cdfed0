// A real OpenID Connect provider for the single sign-on tests (npm package oidc-provider).
// Env: OIDC_PORT, OIDC_CLIENTS (JSON list of client metadata). The login form of its development
// interactions takes any login as the subject; accounts' e-mail is the login when it contains "@".
// Prints "pret" once listening. Test use only: never a production identity provider.
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT);
const issuer = `http://127.0.0.1:${port}`;
const clients = JSON.parse(process.env.OIDC_CLIENTS);

const provider = new Provider(issuer, {
  clients,
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['given_name', 'usual_name'] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        const email = id.includes('@') ? id.replace(/^non-verifie:/, '') : undefined;
        return { sub: id, email, email_verified: !id.startsWith('non-verifie:'), given_name: 'Agent', usual_name: 'Test' };
      },
    };
  },
  // Consent is implied: the tests exercise the relying party, not the provider's consent screen.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['cle-de-test-des-cookies-du-fournisseur'] },
});
provider.proxy = false;
provider.listen(port, '127.0.0.1', () => { console.log('pret'); });
