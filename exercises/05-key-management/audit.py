"""An audit log: one JSON line per MCP request, who asked for what, and what came of it.

    {"time": "2026-11-23T10:15:02.114Z", "key_id": "DrXW3wVNDivd", "client": "127.0.0.1",
     "method": "tools/call", "tool": "get_forecast", "outcome": "ok"}

Each decision is written where it is made: the guard writes the requests it
refuses (no valid key: nothing reaches the MCP layer), the MCP layer writes
every JSON-RPC request it handles. A line holds the key id, never the key.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError

from tool_rights import caller_of


class AuditLog:
    """Appends JSON lines to a file, created (owner-only) on first use."""

    def __init__(self, path: str) -> None:
        self.path = path

    @classmethod
    def from_env(cls) -> "AuditLog":
        return cls(os.environ.get("AUDIT_LOG", "audit.jsonl"))

    def write(self, *, key_id: str | None, client: str, method: str, tool: str | None, outcome: str) -> None:
        entry = {
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "key_id": key_id, "client": client, "method": method, "tool": tool, "outcome": outcome,
        }
        line = (json.dumps(entry) + "\n").encode()
        # O_APPEND and one write() per line: lines from several worker processes never interleave.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


class AuditTrail:
    """MCP middleware: write one line for every JSON-RPC request, with its outcome."""

    def __init__(self, log: AuditLog) -> None:
        self.log = log

    async def __call__(self, ctx: ServerRequestContext, call_next: CallNext) -> HandlerResult:
        if ctx.request_id is None:  # a notification: nothing was asked, nothing to answer
            return await call_next(ctx)
        caller = caller_of(ctx)
        tool = (ctx.params or {}).get("name") if ctx.method == "tools/call" else None
        entry = dict(key_id=caller.key_id if caller else None,
                     client=ctx.request.client.host if ctx.request is not None and ctx.request.client else "unknown",
                     method=ctx.method, tool=tool if isinstance(tool, str) else None)
        try:
            result = await call_next(ctx)
        except MCPError as error:
            self.log.write(**entry, outcome=f"refused: {error.message}")
            raise
        except Exception as error:
            self.log.write(**entry, outcome=f"error: {error.__class__.__name__}")
            raise
        failed = isinstance(result, dict) and result.get("isError") is True  # results arrive in wire form
        self.log.write(**entry, outcome="tool error" if failed else "ok")
        return result
