"""The local server's deterministic tool-using model.

When a request carries function `tools` and the last user message names one of them (as a word)
or asks with a directive, the reply is reasoning, a short line and the tool calls, ending
`finish_reason: "tool_calls"` — chunk for chunk in the shape of the real recordings
(`*tool*.response`): reasoning first, then content, then one `tool_calls` chunk per call. With
`tool_stream: true` the arguments arrive in fragments (the first fragment carries id, type and
name). When the next request brings the tool results, the reply is Markdown built from them.

Directives (in the last user message):
  [[tool=NAME]]              call NAME (arguments derived from its schema and the prompt)
  [[tool=NAME,args=JSON]]    call NAME with exactly this JSON text (may be invalid on purpose)
  several groups             several calls in one turn, in order
  [[tool_rounds=N]]          ask for tools in N consecutive steps before answering (default 1)
NAME need not be among the request's tools (to test unknown names). Arguments derived from
a schema: integers and numbers from the prompt's numbers in order, strings from a quoted text
or a capitalised phrase in the prompt, booleans true, enums their first value.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .answers import Answer, message_text
from .directives import strip_directives
from .tokens import slices, tokenize

__all__ = ["ToolAnswer", "tool_answer", "extract_tool_directives", "loop_turn"]

_TOOL_GROUP = re.compile(
    r"\[\[\s*tool\s*=\s*([A-Za-z0-9_.-]{1,64})\s*(?:,\s*args\s*=\s*(\{.*?\})\s*)?\]\]", re.DOTALL
)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_QUOTED = re.compile(r"\"([^\"]{1,80})\"|'([^']{1,80})'")
_PHRASE = re.compile(r"(?<![\w'])[A-Z][\w'-]*(?:(?:, ?| )[A-Z][\w'-]*)*")


def loop_turn(body: Any) -> int:
    """How many assistant messages a request carries: 0 for the first request of a tool loop."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return 0
    return sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "assistant")


def extract_tool_directives(text: str) -> tuple[str, list[tuple[str, str | None]]]:
    """`text` without its `[[tool=…]]` groups, and the `(name, args JSON or None)` they ask for."""
    calls = [(m.group(1), m.group(2)) for m in _TOOL_GROUP.finditer(text)]
    return (_TOOL_GROUP.sub("", text) if calls else text), calls


@dataclass(frozen=True, slots=True)
class ToolAnswer:
    """A reply that calls tools: reasoning, a short line, then the calls."""

    reasoning: str
    content: str
    tool_calls: list[dict[str, Any]]
    stream_arguments: bool = False
    finish_reason: str = field(default="tool_calls")

    def tokens(self) -> list[tuple[str, Any]]:
        """Stream order: reasoning and content tokens, then `("tool_calls", [piece])` chunks."""
        out: list[tuple[str, Any]] = [("reasoning_content", t) for t in tokenize(self.reasoning)]
        out += [("content", t) for t in tokenize(self.content)]
        for call in self.tool_calls:
            fn, index = call["function"], call["index"]
            pieces = slices(fn["arguments"], 4, 8) if self.stream_arguments else [fn["arguments"]]
            head = {
                "id": call["id"],
                "index": index,
                "type": "function",
                "function": {"name": fn["name"], "arguments": pieces[0] if pieces else ""},
            }
            out.append(("tool_calls", [head]))
            out += [("tool_calls", [{"index": index, "function": {"arguments": p}}]) for p in pieces[1:]]
        return out


def _function_tools(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    tools = body.get("tools")
    found: dict[str, dict[str, Any]] = {}
    for item in tools if isinstance(tools, list) else ():
        fn = item.get("function") if isinstance(item, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            parameters = fn.get("parameters")
            found[fn["name"]] = parameters if isinstance(parameters, dict) else {}
    return found


def _kind(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return "enum"
    kind = schema.get("type")
    if isinstance(kind, str):
        return kind
    for option in schema.get("anyOf") or ():
        if isinstance(option, dict) and option.get("type") not in (None, "null"):
            return _kind(option)
    return "string"


def _derive_arguments(schema: dict[str, Any], prompt: str) -> dict[str, Any]:
    given, listed = schema.get("properties"), schema.get("required")
    properties: dict[str, Any] = given if isinstance(given, dict) else {}
    required: list[Any] = listed if isinstance(listed, list) else list(properties)
    numbers = _NUMBER.findall(prompt)
    quoted = [a or b for a, b in _QUOTED.findall(prompt)]
    sentences = re.split(r"(?<=[.!?])\s+", prompt.strip())
    phrases = [p for s in sentences for p in _PHRASE.findall(s) if not s.startswith(p)]
    words = prompt.split()
    strings = quoted + phrases + ([words[-1].strip("?.!,")] if words else ["something"])
    args: dict[str, Any] = {}
    for name in [n for n in properties if n in required]:
        prop = properties[name] if isinstance(properties[name], dict) else {}
        kind = _kind(prop)
        if kind == "enum":
            args[name] = prop["enum"][0]
        elif kind in ("integer", "number"):
            raw = numbers.pop(0) if len(numbers) > 1 else (numbers[0] if numbers else "1")
            value = float(raw)
            args[name] = int(value) if kind == "integer" else value
        elif kind == "boolean":
            args[name] = True
        elif kind == "array":
            args[name] = []
        elif kind == "object":
            args[name] = {}
        else:
            args[name] = strings.pop(0) if len(strings) > 1 else strings[0]
    return args


def _call_id(messages: Sequence[dict], index: int) -> str:
    digest = hashlib.sha256(json.dumps([messages, index], sort_keys=True, default=str).encode()).hexdigest()
    return f"call_{digest[:24]}"


def _signature(name: str, arguments: str) -> str:
    try:
        args = json.loads(arguments)
    except ValueError:
        args = None
    if isinstance(args, dict):
        inner = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in args.items())
    else:
        inner = arguments
    return _trim(f"{name}({inner})", 80)


def _trim(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _calls_turn(
    messages: Sequence[dict],
    prompt: str,
    wanted: list[tuple[str, str | None]],
    tools: dict[str, dict[str, Any]],
    *,
    thinking: bool,
    stream_arguments: bool,
) -> ToolAnswer:
    calls: list[dict[str, Any]] = []
    for index, (name, given) in enumerate(wanted):
        arguments = (
            given
            if given is not None
            else json.dumps(
                _derive_arguments(tools.get(name, {}), prompt), separators=(",", ":"), ensure_ascii=False
            )
        )
        calls.append(
            {
                "id": _call_id(messages, index),
                "index": index,
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
        )
    signatures = [_signature(c["function"]["name"], c["function"]["arguments"]) for c in calls]
    reasoning = f'The user asks: "{_trim(prompt, 60)}". I will call {" and ".join(signatures)}.'
    names = " and ".join(f"`{c['function']['name']}`" for c in calls)
    return ToolAnswer(reasoning if thinking else "", f"I'll call {names} for you.", calls, stream_arguments)


def _results_turn(messages: Sequence[dict], *, thinking: bool) -> Answer:
    last = max(i for i, m in enumerate(messages) if m.get("role") == "assistant")
    asked = {
        c.get("id"): c.get("function") or {}
        for c in messages[last].get("tool_calls") or ()
        if isinstance(c, dict)
    }
    lines, gists = [], []
    for message in messages[last + 1 :]:
        if message.get("role") != "tool":
            continue
        fn = asked.get(message.get("tool_call_id"), {})
        name = str(fn.get("name") or "an unknown tool")
        result = _trim(message_text(message.get("content")), 200)
        signature = _signature(name, str(fn.get("arguments") or ""))
        if result.startswith("Error:"):
            lines.append(f"- `{signature}` failed: {result[len('Error:') :].strip()}")
            gists.append(f"{name} failed")
        else:
            lines.append(f"- `{signature}` → {result}")
            gists.append(f'{name} gave "{_trim(result, 40)}"')
    reasoning = (
        f"The tool results are in: {', '.join(gists) or 'nothing came back'}. I will answer with them."
    )
    content = (
        "## Tool results\n\n" + ("\n".join(lines) or "- (no results)") + "\n\n"
        f"That is {len(lines)} result(s), reported as the tools returned them."
    )
    return Answer(reasoning if thinking else "", content)


def tool_answer(
    messages: Sequence[dict],
    body: dict[str, Any],
    requested: list[tuple[str, str | None]],
    *,
    thinking: bool = True,
    rounds: int | None = None,
) -> Answer | ToolAnswer | None:
    """The tool model's reply, or None when the ordinary note should answer."""
    tools = _function_tools(body)
    if not tools:
        return None
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    if not users:
        return None
    after = list(messages[users[-1] + 1 :])
    prompt = strip_directives(
        extract_tool_directives(message_text(messages[users[-1]].get("content")))[0]
    ).strip()
    wanted = requested or [
        (name, None)
        for _, name in sorted(
            (match.start(), name)
            for name in tools
            for match in [re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", prompt, re.IGNORECASE)]
            if match
        )
    ]
    done = sum(1 for m in after if m.get("role") == "assistant" and m.get("tool_calls"))
    if wanted and done < max(1, rounds or 1) and (not after or after[-1].get("role") == "tool"):
        return _calls_turn(
            messages,
            prompt,
            wanted,
            tools,
            thinking=thinking,
            stream_arguments=body.get("tool_stream") is True,
        )
    if after and after[-1].get("role") == "tool" and done:
        return _results_turn(messages, thinking=thinking)
    return None
