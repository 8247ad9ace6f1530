"""An OAuth-protected MCP server for Sortie's tests, on the official Python SDK (`mcp` on
PyPI, pinned in requirements.txt): streamable HTTP at /mcp, a resource server in the
sense of MCP's authorization spec. The SDK serves the protected-resource metadata
(RFC 9728, /.well-known/oauth-protected-resource/mcp, naming the authorization server) and
answers 401 with `WWW-Authenticate: Bearer ... resource_metadata=...` to a request without
a valid token. Tokens are checked by the authorization server's introspection endpoint
(RFC 7662), as client `mcp-resource`, and must have been issued for this server (RFC 8707
`aud`).

Run: python oauth_server.py --issuer http://127.0.0.1:AS_PORT --port PORT
Prints "READY <port>" once listening. GET /test/stats gives {"authorized": n, "refused": n};
POST /test/refuse with a token as the body makes the server refuse that token from then on
(as a server does after rotating its keys: the token is still valid at the authorization
server, and a refresh gives one it accepts).
"""

import argparse
import asyncio
import base64
import json
import sys
import urllib.parse
import urllib.request

import uvicorn
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from starlette.responses import JSONResponse
from starlette.routing import Route

RS_CLIENT = "mcp-resource"
RS_SECRET = "mcp-resource-secret"
STATS = {"authorized": 0, "refused": 0}
REFUSED = set()


class Introspection:
    """A TokenVerifier: asks the authorization server whether the token is active."""

    def __init__(self, issuer, resource):
        self.endpoint = f"{issuer}/token/introspection"
        self.resource = resource

    def _ask(self, token):
        body = urllib.parse.urlencode({"token": token}).encode()
        basic = base64.b64encode(f"{RS_CLIENT}:{RS_SECRET}".encode()).decode()
        request = urllib.request.Request(
            self.endpoint, data=body, method="POST",
            headers={"authorization": f"Basic {basic}",
                     "content-type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(request, timeout=10) as r:
            return json.loads(r.read())

    async def verify_token(self, token):
        if token in REFUSED:
            STATS["refused"] += 1
            return None
        info = await asyncio.to_thread(self._ask, token)
        aud = info.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if not info.get("active") or self.resource not in auds:
            STATS["refused"] += 1
            return None
        STATS["authorized"] += 1
        return AccessToken(token=token, client_id=info.get("client_id", ""),
                           scopes=(info.get("scope") or "").split(),
                           expires_at=info.get("exp"), resource=self.resource,
                           subject=info.get("sub"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    resource = f"http://127.0.0.1:{args.port}/mcp"
    server = MCPServer(
        name="protected-docs",
        token_verifier=Introspection(args.issuer, resource),
        auth=AuthSettings(issuer_url=args.issuer, resource_server_url=resource,
                          required_scopes=["mcp"], validate_token_resource=True),
    )

    @server.tool(description="Search the protected docs.")
    def search(query: str) -> str:
        return f"protected result for: {query}"

    @server.tool(description="Revokes the caller's login at the authorization server (as "
                             "an admin would, between two calls of a mission).")
    def revoke_me() -> str:
        token = get_access_token()
        body = urllib.parse.urlencode({"token": token.token, "token_type_hint": "access_token",
                                       "client_id": token.client_id}).encode()
        request = urllib.request.Request(f"{args.issuer}/token/revocation", data=body,
                                         method="POST")
        urllib.request.urlopen(request, timeout=10).read()
        return "revoked"

    app = server.streamable_http_app()

    async def stats(request):
        return JSONResponse(STATS)

    async def refuse(request):
        REFUSED.add((await request.body()).decode())
        return JSONResponse({"refused": len(REFUSED)})

    app.router.routes.append(Route("/test/stats", stats))
    app.router.routes.append(Route("/test/refuse", refuse, methods=["POST"]))
    config = uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning")
    instance = uvicorn.Server(config)

    async def serve():
        task = asyncio.create_task(instance.serve())
        while not instance.started:
            await asyncio.sleep(0.02)
        print(f"READY {args.port}", flush=True)
        await task

    asyncio.run(serve())


if __name__ == "__main__":
    sys.exit(main())
