"""A real MCP client session, as the grader's own probe (not the student's agent)."""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
from dataclasses import dataclass, field

import httpx2
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

SESSION_TIMEOUT = 15.0


@dataclass
class SessionResult:
    """How far a session got: each step is recorded, so a failure names the step."""

    steps: list[str] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)
    result_text: str = ""
    structured: object = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    def describe(self) -> str:
        done = " -> ".join(self.steps) or "nothing"
        return f"{done}; then {self.error}" if self.error else done


async def _drive(streams, result: SessionResult, tool: str, arguments: dict) -> None:
    async with ClientSession(*streams[:2]) as session:
        await session.initialize()
        result.steps.append("initialize")
        listed = await session.list_tools()
        result.tools = [entry.name for entry in listed.tools]
        result.steps.append(f"list_tools {result.tools}")
        called = await session.call_tool(tool, arguments)
        result.result_text = "\n".join(getattr(part, "text", "") for part in called.content)
        result.structured = called.structured_content
        result.steps.append(f"call_tool {tool}" + (" (error)" if called.is_error else ""))
        if called.is_error:
            result.error = f"the tool reported an error: {result.result_text[:200]}"


def _explain(error: BaseException) -> str:
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    response = getattr(error, "response", None)
    if response is not None and getattr(response, "status_code", None):
        return f"the server answered {response.status_code} {getattr(response, 'reason_phrase', '')}".strip()
    return f"{error.__class__.__name__}: {error}" if str(error) else error.__class__.__name__


async def _session(open_streams, tool: str, arguments: dict) -> SessionResult:
    result = SessionResult()
    try:
        async with asyncio.timeout(SESSION_TIMEOUT):
            async with open_streams() as streams:
                await _drive(streams, result, tool, arguments)
    except TimeoutError:
        result.error = f"no progress within {SESSION_TIMEOUT:.0f} s"
    except asyncio.CancelledError:  # Ctrl+C: asyncio.run turns it back into KeyboardInterrupt
        raise
    except BaseException as error:  # the SDK wraps transport errors in exception groups
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            raise
        if not result.error:
            result.error = _explain(error)
    return result


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every session's client: each new default one loads the CA bundle (about 80 ms),
    and a grading opens dozens of sessions to servers that only speak plain HTTP on loopback."""
    return ssl.create_default_context()


def _client(headers: dict[str, str] | None = None, timeout: httpx2.Timeout | None = None,
            auth: httpx2.Auth | None = None) -> httpx2.AsyncClient:
    """The SDK's client factory (mcp.shared._httpx_utils.create_mcp_http_client), with the shared TLS context."""
    return httpx2.AsyncClient(headers=headers, timeout=timeout or httpx2.Timeout(30.0, read=300.0), auth=auth,
                              verify=_tls())


def sse_session(url: str, headers: dict[str, str], tool: str, arguments: dict | None = None) -> SessionResult:
    return asyncio.run(_session(lambda: sse_client(url, headers=headers, timeout=5.0, httpx_client_factory=_client),
                                tool, arguments or {}))


def streamable_session(url: str, headers: dict[str, str], tool: str, arguments: dict | None = None) -> SessionResult:
    def open_streams():
        client = _client(headers, httpx2.Timeout(5.0, read=SESSION_TIMEOUT))
        return _with_client(client, url)

    return asyncio.run(_session(open_streams, tool, arguments or {}))


class _with_client:
    """Open streamable HTTP streams over CLIENT and close the client afterwards."""

    def __init__(self, client, url: str) -> None:
        self.client, self.url = client, url

    async def __aenter__(self):
        self._transport = streamable_http_client(self.url, http_client=self.client)
        return await self._transport.__aenter__()

    async def __aexit__(self, *exc):
        try:
            return await self._transport.__aexit__(*exc)
        finally:
            await self.client.aclose()


def as_json(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return None
