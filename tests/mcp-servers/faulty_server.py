"""An MCP server for Sortie's tests, on the official Python SDK (`mcp` on PyPI, pinned in
requirements.txt): the ordinary cases (echo, read-only and writing tools, isError,
structuredContent, a tool list that changes) and the failure cases (a crash in the middle
of a call, a hang, a 10 MB result, a malformed JSON-RPC line, a tool with an invalid
schema).

Run: python faulty_server.py [--mode ok|exit|silent] [--marker FILE] [--sse PORT]
  exit    exits at once, saying why on stderr
  silent  never answers `initialize`
  --marker FILE  writes "pid" there at start (a test checks the process is gone after).
  --sse PORT     serves the older HTTP+SSE transport (MCP 2024-11-05) on 127.0.0.1:PORT
                 (GET /sse, POST /messages/) instead of stdio, with the SDK's own
                 SseServerTransport; tool `crash` then drops the SSE stream mid-call.
"""

import argparse
import asyncio
import os
import sys
import time

import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

EXTRA = {"on": False}

# A 1x1 PNG.
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def obj(props=None, required=None):
    schema = {"type": "object", "properties": props or {}}
    if required:
        schema["required"] = required
    return schema


def tools():
    ro = types.ToolAnnotations(read_only_hint=True)
    out = [
        types.Tool(name="echo", description="Echo the text back.", annotations=ro,
                   input_schema=obj({"text": {"type": "string"}}, ["text"])),
        types.Tool(name="write_note", description="Pretend to write a note (not read-only).",
                   input_schema=obj({"text": {"type": "string"}})),
        types.Tool(name="fail", description="Always an isError result.", annotations=ro,
                   input_schema=obj()),
        types.Tool(name="structured", description="A structuredContent result.", annotations=ro,
                   input_schema=obj()),
        types.Tool(name="crash", description="The server dies during the call.", annotations=ro,
                   input_schema=obj()),
        types.Tool(name="hang", description="Never answers.", annotations=ro, input_schema=obj()),
        types.Tool(name="huge", description="A 10 MB result.", annotations=ro, input_schema=obj()),
        types.Tool(name="garbage", description="Writes a malformed JSON-RPC line, then answers.",
                   annotations=ro, input_schema=obj()),
        types.Tool(name="bad_schema", description="Its schema is not a valid object schema.",
                   input_schema=obj({"when": {"type": "datetime"}})),
        types.Tool(name="image", description="A text and a 1x1 PNG.", annotations=ro,
                   input_schema=obj()),
        types.Tool(name="pick", description="Top-level oneOf and not, as some servers write.",
                   annotations=ro, input_schema={
                       "type": "object",
                       "properties": {"mode": {"type": "string"}},
                       "oneOf": [
                           {"properties": {"id": {"type": "string"}}, "required": ["id"]},
                           {"properties": {"path": {"type": "string"}}, "required": ["path"]},
                       ],
                       "not": {"required": ["id", "path"]},
                   }),
        types.Tool(name="whoami", description="The server's process id.", annotations=ro,
                   input_schema=obj()),
        types.Tool(name="add_tool", description="Adds tool `extra` and says the list changed.",
                   annotations=ro, input_schema=obj()),
    ]
    if EXTRA["on"]:
        out.append(types.Tool(name="extra", description="Added at run time.", annotations=ro,
                              input_schema=obj()))
    return out


def text(t):
    return types.CallToolResult(content=[types.TextContent(text=t)])


async def list_tools(ctx, params):
    return types.ListToolsResult(tools=tools())


async def call_tool(ctx, params):
    name = params.name
    args = params.arguments or {}
    if name == "echo":
        return text(f"echo: {args.get('text', '')}")
    if name == "write_note":
        return text("note written")
    if name == "image":
        return types.CallToolResult(content=[types.TextContent(text="a dot"),
                                             types.ImageContent(data=PNG, mime_type="image/png")])
    if name == "pick":
        return text(f"picked {sorted(args)}")
    if name == "whoami":
        return text(f"pid {os.getpid()}")
    if name == "extra":
        return text("extra ran")
    if name == "fail":
        return types.CallToolResult(content=[types.TextContent(text="it went wrong")], is_error=True)
    if name == "structured":
        return types.CallToolResult(content=[types.TextContent(text="see structured")],
                                    structured_content={"answer": 42})
    if name == "crash":
        sys.stderr.write("faulty_server: crashing on purpose\n")
        sys.stderr.flush()
        os._exit(3)
    if name == "hang":
        await asyncio.sleep(3600)
    if name == "huge":
        return text("x" * (10 * 1024 * 1024))
    if name == "garbage":
        sys.stdout.buffer.write(b'{"jsonrpc": "2.0", this is not json\n')
        sys.stdout.buffer.flush()
        return text("after garbage")
    if name == "add_tool":
        EXTRA["on"] = True
        await ctx.session.send_tool_list_changed()
        return text("added")
    return types.CallToolResult(content=[types.TextContent(text=f"no tool {name}")], is_error=True)


def options(server):
    from mcp.server.lowlevel.server import NotificationOptions
    return server.create_initialization_options(NotificationOptions(tools_changed=True))


async def main(args):
    server = Server("faulty", on_list_tools=list_tools, on_call_tool=call_tool)
    async with stdio_server() as (read, write):
        await server.run(read, write, options(server))


def serve_sse(port):
    """The SDK's HTTP+SSE transport, as its MCPServer.sse_app wires it."""
    import uvicorn
    from mcp.server.sse import SseServerTransport
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Mount, Route

    server = Server("faulty", on_list_tools=list_tools, on_call_tool=call_tool)
    sse = SseServerTransport("/messages/")

    async def handle_sse(request):
        async with sse.connect_sse(request.scope, request.receive, request._send) as (read, write):
            await server.run(read, write, options(server))
        return Response()

    app = Starlette(routes=[
        Route("/sse", endpoint=handle_sse, methods=["GET"]),
        Mount("/messages/", app=sse.handle_post_message),
    ])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="ok")
    parser.add_argument("--marker")
    parser.add_argument("--sse", type=int)
    args = parser.parse_args()
    if args.marker:
        with open(args.marker, "w") as f:
            f.write(str(os.getpid()))
    if args.mode == "exit":
        token = os.environ.get("FAULTY_TOKEN", "")
        sys.stderr.write(f"faulty_server: cannot start: missing FAULTY_CONFIG (FAULTY_TOKEN={token})\n")
        sys.exit(2)
    if args.mode == "silent":
        time.sleep(3600)
    if args.sse:
        serve_sse(args.sse)
    else:
        asyncio.run(main(args))
