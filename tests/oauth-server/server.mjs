// Sortie's test authorization server: panva/oidc-provider, an established, certified
// implementation, configured for a public native CLI client. Only the "user" is automated:
// interactions (login + consent) are approved at once, as a person clicking "allow" would.
//
// Usage: node server.mjs            -> prints "READY <port>" once listening on 127.0.0.1
// Also: open dynamic client registration (RFC 7591, at /reg), resource indicators
// (RFC 8707: a token asked for with `resource` is issued for that resource server, with
// its scope `mcp`), and client `mcp-resource`, the confidential client with which an MCP
// resource server introspects tokens (RFC 7662).
// Env:   AT_TTL   access token lifetime in seconds (default 60)
//        PORT     port to bind (default 0: any free port)
import Provider from 'oidc-provider';
import http from 'node:http';

const AT_TTL = Number(process.env.AT_TTL || 60);
const stats = { token_requests: 0, refresh_grants: 0, code_grants: 0, device_grants: 0, revocations: 0, registrations: 0 };

const server = http.createServer();
await new Promise((resolve) => server.listen(Number(process.env.PORT || 0), '127.0.0.1', resolve));
const port = server.address().port;
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'sortie-cli',
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    redirect_uris: ['http://127.0.0.1/callback'],
    grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
    response_types: ['code'],
  }, {
    client_id: 'mcp-resource',
    client_secret: 'mcp-resource-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    redirect_uris: [],
    grant_types: [],
    response_types: [],
  }],
  pkce: { required: () => true },
  scopes: ['openid', 'offline_access', 'api'],
  features: {
    devInteractions: { enabled: false },
    deviceFlow: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
    registration: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (ctx, client, oneOf) => oneOf,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resourceIndicator) => ({
        scope: 'mcp',
        audience: resourceIndicator,
        accessTokenTTL: AT_TTL,
        accessTokenFormat: 'opaque',
      }),
    },
  },
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  ttl: {
    AccessToken: AT_TTL,
    AuthorizationCode: 600,
    DeviceCode: 600,
    RefreshToken: 3600,
    Grant: 3600,
    Interaction: 600,
    Session: 3600,
    IdToken: 3600,
  },
  findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ['sortie-test-cookie-key'] },
});
provider.proxy = false;

provider.on('grant.success', (ctx) => {
  const g = ctx.oidc.params.grant_type;
  if (g === 'refresh_token') stats.refresh_grants += 1;
  if (g === 'authorization_code') stats.code_grants += 1;
  if (g === 'urn:ietf:params:oauth:grant-type:device_code') stats.device_grants += 1;
});

// RFC 8628 §3.5: a device client that polls faster than the interval (5 s) gets
// `slow_down`. oidc-provider defines the error but leaves enforcing it to the deployment,
// so this server enforces it in front of the token endpoint (oidc-provider then reads the
// body parsed here, as it documents for upstream parsers).
const DEVICE_INTERVAL_MS = 5000;
const lastPoll = new Map();
async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

// The "user": approve every interaction (login and consent) immediately.
provider.use(async (ctx, next) => {
  if (ctx.path === '/token' && ctx.method === 'POST') {
    stats.token_requests += 1;
    const raw = await readForm(ctx.req);
    ctx.request.body = raw;
    const params = new URLSearchParams(raw);
    if (params.get('grant_type') === 'urn:ietf:params:oauth:grant-type:device_code') {
      const code = params.get('device_code') || '';
      const now = Date.now();
      const last = lastPoll.get(code);
      lastPoll.set(code, now);
      if (last !== undefined && now - last < DEVICE_INTERVAL_MS) {
        ctx.status = 400;
        ctx.body = { error: 'slow_down', error_description: 'you are polling too quickly and should back off' };
        return;
      }
    }
  }
  if (ctx.path === '/token/revocation' && ctx.method === 'POST') stats.revocations += 1;
  if (ctx.path === '/reg' && ctx.method === 'POST') stats.registrations += 1;
  if (ctx.path.startsWith('/interaction/')) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const accountId = 'test-user';
    let grant = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
    if (!grant) grant = new provider.Grant({ accountId, clientId: details.params.client_id });
    const scope = details.params.scope || 'openid offline_access api';
    const words = scope.split(' ');
    grant.addOIDCScope(words.filter((w) => ['openid', 'offline_access', 'api'].includes(w)).join(' '));
    // A login for a resource server (RFC 8707): its own scope, for that resource.
    if (details.params.resource) {
      const resourceScope = words.filter((w) => w === 'mcp').join(' ') || 'mcp';
      for (const r of [].concat(details.params.resource)) grant.addResourceScope(r, resourceScope);
    }
    const grantId = await grant.save();
    await provider.interactionFinished(ctx.req, ctx.res,
      { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
    return;
  }
  await next();
});

// A protected resource, as a provider API would be: 401 for a bad or expired token, or an
// xAI-style 403 (with the WKE marker) under /xai/.
async function resource(req, res) {
  const auth = req.headers.authorization || '';
  const value = auth.startsWith('Bearer ') ? auth.slice(7) : '';
  const token = value ? await provider.AccessToken.find(value) : undefined;
  const ok = token && !token.isExpired;
  res.setHeader('content-type', 'application/json');
  if (ok) {
    res.end(JSON.stringify({ object: 'list', data: [{ id: 'protected-model', object: 'model', owned_by: token.accountId }] }));
    return;
  }
  if (req.url.startsWith('/xai/')) {
    res.statusCode = 403;
    res.end(JSON.stringify({ code: 'The caller does not have permission to execute the specified operation', error: 'The OAuth2 access token could not be validated. [WKE=unauthenticated:bad-credentials]' }));
    return;
  }
  res.statusCode = 401;
  res.end(JSON.stringify({ error: { message: 'invalid or expired access token', type: 'authentication_error' } }));
}

const callback = provider.callback();
server.on('request', (req, res) => {
  if (req.url === '/test/stats') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(stats));
    return;
  }
  if (req.url.startsWith('/v1/') || req.url.startsWith('/xai/v1/')) {
    resource(req, res).catch((e) => { res.statusCode = 500; res.end(String(e)); });
    return;
  }
  callback(req, res);
});

// Log lines must never kill the server if the reader went away.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});
process.stdout.write(`READY ${port}\n`);
process.on('SIGTERM', () => process.exit(0));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
