"""Per-key tool rights, inside the MCP server: who is calling, and which tools they may use.

The guard (auth_middleware.py) has already checked the key and put the caller
in the request's state. Here, at the MCP layer, every JSON-RPC message is seen
with its method and parameters:
- tools/list: the tools this key may not use are left out;
- tools/call: a tool this key may not use is refused, with an error that says why;
- while a request runs, current_caller holds the caller, so a tool can read who called it.
"""

from __future__ import annotations

from contextvars import ContextVar

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, INVALID_REQUEST

from key_store import Caller

# Set for the duration of each MCP request, in the task that runs its handler.
current_caller: ContextVar[Caller | None] = ContextVar("current_caller", default=None)


def caller_of(ctx: ServerRequestContext) -> Caller | None:
    """The caller the guard found for the HTTP request that carried this message (None: no guard ran)."""
    request = ctx.request
    state = request.scope.get("state", {}) if request is not None else {}
    caller = state.get("caller")
    return caller if isinstance(caller, Caller) else None


class ToolRights:
    """MCP middleware: filter tools/list and refuse tools/call by the caller's rights."""

    async def __call__(self, ctx: ServerRequestContext, call_next: CallNext) -> HandlerResult:
        caller = caller_of(ctx)
        if caller is None:
            # Fail closed: a message that did not pass the guard (misconfigured app, in-process call) gets nothing.
            raise MCPError(code=INVALID_REQUEST, message="No authenticated caller: this server needs an API key.")
        # TODO: on a tool call, find which tool is asked for in the request's parameters. When the
        #       caller has no right to it, refuse with an MCP error of the invalid-params kind whose
        #       message names the key id, the tool, and the tools the key may call.
        token = current_caller.set(caller)
        try:
            result = await call_next(ctx)
        finally:
            current_caller.reset(token)
        # TODO: on a listing, leave out what this caller has no right to call. The result is
        #       already in its wire form (a dict with the list of tool descriptions); return a new one.
        return result
