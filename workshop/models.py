"""Which model drives the agents: a real OpenAI model, or a deterministic offline one.

With OPENAI_API_KEY set, agents use the real model the lesson names (override it
with WORKSHOP_MODEL). Without it, they use OfflineModel: no network, no key, the
same answer every time, and still the real openai-agents loop calling real MCP tools.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from agents import set_tracing_disabled
from agents.models.interface import Model
from agents.testing import ModelStep, ScriptedModel, assistant_message, function_call
from agents.testing.model import ModelCall


def model_for(default_model: str) -> str | Model:
    """The model an agent should use: the named OpenAI model online, OfflineModel offline."""
    if os.environ.get("OPENAI_API_KEY"):
        return os.environ.get("WORKSHOP_MODEL", default_model)
    # Offline there is nowhere to send traces; without this the SDK warns on every run.
    set_tracing_disabled(True)
    return OfflineModel()


class OfflineModel(ScriptedModel):
    """A stand-in for an LLM that really plays the agent loop.

    Each turn it looks at the conversation so far:
    - no tool result yet: it picks the tool whose name and description best match
      the user's words, fills in the arguments from the request, and calls it;
    - a tool result is there: it answers with that result, word for word.

    It builds on agents.testing.ScriptedModel: every call enqueues one step whose
    responder makes the decision, so the model never runs out of script.
    """

    async def get_response(self, *args: Any, **kwargs: Any):
        self.enqueue(ModelStep.respond(next_move))
        return await super().get_response(*args, **kwargs)

    async def stream_response(self, *args: Any, **kwargs: Any):
        self.enqueue(ModelStep.respond(next_move))
        async for event in super().stream_response(*args, **kwargs):
            yield event


def next_move(call: ModelCall) -> list:
    items = call.input if isinstance(call.input, list) else []
    results = [item for item in items if _get(item, "type") == "function_call_output"]
    if results:
        return [assistant_message(_answer_from(results[-1], items))]

    request = _user_text(call.input)
    tool = _best_tool(request, call.tools)
    if tool is None:
        return [assistant_message("I have no tool that can answer that, so I cannot help with it offline.")]
    arguments = _arguments_for(tool, request)
    return [function_call(tool.name, arguments, call_id=f"call_{tool.name}")]


def _get(item: Any, key: str) -> Any:
    return item.get(key) if isinstance(item, dict) else getattr(item, key, None)


def _user_text(model_input: Any) -> str:
    if isinstance(model_input, str):
        return model_input
    texts = []
    for item in model_input:
        if _get(item, "role") == "user":
            content = _get(item, "content")
            texts.append(content if isinstance(content, str) else " ".join(_texts(content)))
    return " ".join(texts)


def _texts(parts: Any) -> list[str]:
    if isinstance(parts, str):
        return [parts]
    return [str(_get(part, "text")) for part in parts or [] if _get(part, "text") is not None]


def _answer_from(result: Any, items: list) -> str:
    parts = _texts(_get(result, "output"))
    tool_name = next(
        (_get(item, "name") for item in items
         if _get(item, "type") == "function_call" and _get(item, "call_id") == _get(result, "call_id")),
        "the tool",
    )
    lines = [line for part in parts for line in _pretty(part)]
    return f"Here is what {tool_name} returned:\n" + ("\n".join(lines) or "(nothing)")


def _pretty(text: str) -> list[str]:
    """Tool results often arrive as JSON (one part per list entry); show one entry per line."""
    try:
        data = json.loads(text)
    except ValueError:
        return [text]
    if isinstance(data, dict) and set(data) == {"result"}:
        data = data["result"]
    entries = data if isinstance(data, list) else [data]
    return [f"- {_one_line(entry)}" for entry in entries]


def _one_line(entry: Any) -> str:
    if isinstance(entry, dict):
        return ", ".join(f"{key}: {value}" for key, value in entry.items())
    return str(entry)


_WORD = re.compile(r"[a-z]+")


def _words(text: str) -> set[str]:
    words = set(_WORD.findall(text.lower()))
    # "items" should match "item", "forecasts" "forecast".
    return words | {word[:-1] for word in words if word.endswith("s")}


def _best_tool(request: str, tools: list) -> Any:
    wanted = _words(request)
    scored = []
    for index, tool in enumerate(tools):
        name_words = _words(tool.name.replace("_", " "))
        described = _words(getattr(tool, "description", "") or "")
        # Words in the tool's name count most; ties go to the first tool listed.
        score = 3 * len(wanted & name_words) + len(wanted & described)
        scored.append((score, -index, tool))
    if not scored:
        return None
    best = max(scored, key=lambda entry: entry[:2])
    return best[2] if best[0] > 0 else None


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_STATE = re.compile(r"\b[A-Z]{2}\b")


def _arguments_for(tool: Any, request: str) -> dict:
    """Fill the tool's parameters from the request: numbers in order, two-letter codes, quoted words."""
    schema = getattr(tool, "params_json_schema", {}) or {}
    numbers = iter(float(n) for n in _NUMBER.findall(request))
    quoted = iter(re.findall(r"['\"]([^'\"]+)['\"]", request))
    states = iter(_STATE.findall(request))
    arguments: dict[str, Any] = {}
    for name, spec in (schema.get("properties") or {}).items():
        kind = spec.get("type")
        if kind in ("number", "integer"):
            value = next(numbers, None)
            if value is not None:
                arguments[name] = int(value) if kind == "integer" else value
        elif kind == "string":
            value = next(states, None) if name == "state" else next(quoted, None)
            if value is not None:
                arguments[name] = value
    return arguments
