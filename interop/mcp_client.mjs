// An MCP client written with the official TypeScript SDK (@modelcontextprotocol/sdk),
// not with the Python SDK the workshop's servers are built on. It connects once,
// lists the tools, optionally calls one, and prints what happened as one JSON line:
//
//   MCP_HEADERS='{"X-API-Key": "..."}' node mcp_client.mjs --url http://127.0.0.1:3000/mcp/sse --transport sse
//   MCP_HEADERS='{"X-API-Key": "..."}' node mcp_client.mjs --url http://127.0.0.1:5000/mcp --transport http \
//       --call get_alerts --args '{"state": "CA"}'
//
// A host that only speaks stdio (Claude Desktop) starts a bridge instead; run the
// bridge's command the way the host would, with the environment it would pass (the
// SDK's default few variables, and MCP_BRIDGE_ENV as the entry's "env" block):
//
//   node mcp_client.mjs --transport stdio -- npx -y mcp-remote@0.15.1 http://127.0.0.1:3000/mcp/sse ...
//
//   {"connected": true, "server": {...}, "tools": ["..."], "call": {...}}      exit status 0
//   {"connected": false, "status": 401, "error": "..."}                        exit status 1
//
// The headers come from the environment, not from the command line: a key in
// argv is visible to every user of the machine in the process list.

import { parseArgs } from "node:util";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const { values: options, positionals: command } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: "string" },
    // "sse" (HTTP+SSE, stages 01-03), "http" (streamable HTTP), or "stdio" (a bridge command after --)
    transport: { type: "string", default: "http" },
    call: { type: "string" },
    args: { type: "string", default: "{}" },
    timeout: { type: "string", default: "20" },
  },
});

function report(result, code) {
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(code);
}

const usable = options.transport === "stdio" ? command.length > 0 : options.url && ["sse", "http"].includes(options.transport);
if (!usable) {
  report({ connected: false, error: "usage: node mcp_client.mjs (--url URL --transport sse|http | --transport stdio -- COMMAND...) [--call TOOL --args JSON]" }, 2);
}

// Never wait forever: a server that hangs is a failure too.
setTimeout(() => report({ connected: false, error: `no answer within ${options.timeout} s` }, 1),
  Number(options.timeout) * 1000).unref();

function makeTransport() {
  if (options.transport === "stdio") {
    // As a host starts it: the SDK passes a stdio server only a few variables of its own environment
    // (HOME, PATH, USER, ...: getDefaultEnvironment()), plus the entry's "env" block, given here as
    // MCP_BRIDGE_ENV (JSON). Anything else this process has, the bridge never sees.
    const block = JSON.parse(process.env.MCP_BRIDGE_ENV || "{}");
    return new StdioClientTransport({ command: command[0], args: command.slice(1), env: block, stderr: "inherit" });
  }
  const headers = JSON.parse(process.env.MCP_HEADERS || "{}");
  const url = new URL(options.url);
  // Both transports send requestInit.headers on every request they make: the SSE
  // transport on its GET stream and on every POST, streamable HTTP on every POST, GET and DELETE.
  return options.transport === "sse"
    ? new SSEClientTransport(url, { requestInit: { headers } })
    : new StreamableHTTPClientTransport(url, { requestInit: { headers } });
}

const transport = makeTransport();
const client = new Client({ name: "workshop-typescript-client", version: "1.0.0" });

try {
  await client.connect(transport);
  const { tools } = await client.listTools();
  const result = { connected: true, server: client.getServerVersion(), tools: tools.map((tool) => tool.name) };
  if (options.call) {
    const called = await client.callTool({ name: options.call, arguments: JSON.parse(options.args) });
    result.call = {
      isError: Boolean(called.isError),
      text: (called.content || []).filter((part) => part.type === "text").map((part) => part.text).join("\n"),
    };
  }
  await client.close();
  report(result, 0);
} catch (error) {
  // SseError and StreamableHTTPError carry the HTTP status in `code`.
  const status = typeof error?.code === "number" && error.code >= 100 && error.code < 600 ? error.code : null;
  report({ connected: false, status, error: String(error?.message ?? error) }, 1);
}
