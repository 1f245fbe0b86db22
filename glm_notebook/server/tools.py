"""The local server's deterministic tool-using model.

When a request carries function `tools` and the last user message speaks of one of them (its
name, or a word of it: `weather` for `get_weather`, `converted` for `convert_units`) or asks with
a directive, the reply is reasoning, a short line and the tool calls, ending
`finish_reason: "tool_calls"` — chunk for chunk in the shape of the real recordings
(`*tool*.response`): reasoning first, then content, then one `tool_calls` chunk per call. With
`tool_stream: true` the arguments arrive in fragments (the first fragment carries id, type and
name). When the next request brings the tool results, the reply is Markdown built from them.

Without directives the model plans as a person's prompt would have it: the first step calls
every named tool whose required arguments the prompt fills (strings from a quoted text or a
capitalised phrase, numbers from the prompt's numbers, a choice from an `enum` or a description
ending "…, C or F", matched by a capitalised word: "Fahrenheit" → F); a tool whose numbers only
an earlier result gives (`convert_units` after `weather` said "18 °C") is called in a later step;
several quoted values for one tool (`"Florence", "Siena" and "Pisa"`) are one call per step. When
nothing is left to call, it answers with every result.

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

import json
import re
import secrets
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


# Words of a tool's name that say nothing about what it is for.
_GENERIC = frozenset(
    "get fetch lookup look find search query set make do run call compute calculate calc check list "
    "show the a an of to for by from and or in on info data value tool".split()
)
_OPTIONS = re.compile(r"\b([A-Za-z]\w*)((?:, ?[A-Za-z]\w*)*),? or ([A-Za-z]\w*)\W*\Z")


def _name_words(name: str) -> list[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return [w for w in re.split(r"[\W_]+", spaced.lower()) if w and w not in _GENERIC]


def _named_tools(prompt: str, tools: dict[str, dict[str, Any]]) -> list[str]:
    """The offered tools the prompt speaks of, in the order it does: by the whole name, or by a
    word of it (`weather` for `get_weather`; `converted` for `convert_units`)."""
    words = [w.lower() for w in re.findall(r"[A-Za-z][\w'-]*", prompt)]
    found: list[tuple[int, str]] = []
    for name in tools:
        whole = re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", prompt, re.IGNORECASE)
        if whole:
            found.append((whole.start(), name))
            continue
        named = _name_words(name)
        for position, word in enumerate(words):
            if any(word == w or (len(w) >= 4 and word.startswith(w)) for w in named):
                found.append((10**9 + position, name))
                break
    return [name for _, name in sorted(found)]


def _choices(prop: dict[str, Any]) -> list[str]:
    """`enum`, else the options a description lists at its end (`…, C or F`)."""
    if isinstance(prop.get("enum"), list):
        return [str(v) for v in prop["enum"]]
    match = _OPTIONS.search(str(prop.get("description") or ""))
    if not match:
        return []
    middle = [w.strip() for w in match.group(2).split(",") if w.strip()]
    return [match.group(1), *middle, match.group(3)]


def _plan_call(
    schema: dict[str, Any], prompt: str, results: str, used: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """Arguments for the next call of a tool, from the prompt (and numbers in earlier results), or
    None when the tool has nothing (more) to do: a required number no text gives, or every listed
    value (`"Florence", "Siena" and "Pisa"`: one call each, one per step) done already."""
    given, listed = schema.get("properties"), schema.get("required")
    properties: dict[str, Any] = given if isinstance(given, dict) else {}
    required = [n for n in (listed if isinstance(listed, list) else properties) if n in properties]
    quoted = [a or b for a, b in _QUOTED.findall(prompt)]
    numbers = _NUMBER.findall(prompt) or _NUMBER.findall(results)
    sentences = re.split(r"(?<=[.!?])\s+", prompt.strip())
    capitalised = [w for s in sentences for w in re.findall(r"[A-Z][\w'-]*", s) if not s.startswith(w)]
    args: dict[str, Any] = {}
    for name in required:
        prop = properties[name] if isinstance(properties[name], dict) else {}
        kind, choices = _kind(prop), _choices(prop)
        if choices:
            taken = {str(v) for v in args.values()}
            pick = [
                c for c in choices for w in capitalised if w not in taken and w.lower().startswith(c.lower())
            ]
            args[name] = pick[0] if pick else choices[0]
        elif kind in ("integer", "number"):
            if not numbers:
                return None
            value = float(numbers.pop(0))
            args[name] = int(value) if kind == "integer" else value
        elif kind == "boolean":
            args[name] = True
        elif kind in ("array", "object"):
            args[name] = [] if kind == "array" else {}
        else:
            pool = quoted or [p for s in sentences for p in _PHRASE.findall(s) if not s.startswith(p)][:1]
            pool = [v for v in pool if not any(u.get(name) == v for u in used)]
            if not pool:
                return (
                    None
                    if used
                    else {**args, name: prompt.split()[-1].strip("?.!,") if prompt else "something"}
                )
            args[name] = pool[0]
    return None if used and args in used else args


def _planned_turn(
    messages: Sequence[dict],
    body: dict[str, Any],
    prompt: str,
    tools: dict[str, dict[str, Any]],
    after: list[dict[str, Any]],
    *,
    thinking: bool,
) -> Answer | ToolAnswer | None:
    """A model that uses the offered tools the prompt speaks of, with no directive: each step
    calls what it can fill in from the prompt (and from earlier results), then it answers."""
    if after and after[-1].get("role") != "tool":
        return None
    made: dict[str, list[dict[str, Any]]] = {}
    for message in after:
        for call in message.get("tool_calls") or () if message.get("role") == "assistant" else ():
            fn = call.get("function") or {} if isinstance(call, dict) else {}
            try:
                made.setdefault(str(fn.get("name")), []).append(json.loads(fn.get("arguments") or "{}"))
            except ValueError:
                made.setdefault(str(fn.get("name")), []).append({})
    results = " ".join(message_text(m.get("content")) for m in after if m.get("role") == "tool")
    wanted: list[tuple[str, str | None]] = []
    for name in _named_tools(prompt, tools):
        args = _plan_call(tools[name], prompt, results, made.get(name, []))
        if args is not None:
            wanted.append((name, json.dumps(args, separators=(",", ":"), ensure_ascii=False)))
    if wanted:
        return _calls_turn(
            messages, prompt, wanted[:1] if made else wanted, tools, thinking=thinking,
            stream_arguments=body.get("tool_stream") is True,
        )  # fmt: skip
    return _results_turn(messages, thinking=thinking) if made else None


def _call_id() -> str:
    """A tool call id, unique as the service's are."""
    return f"call_{secrets.token_hex(12)}"


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
                "id": _call_id(),
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
    """The answer from every tool result since the last user message, in order."""
    start = max(i for i, m in enumerate(messages) if m.get("role") == "user")
    asked = {
        c.get("id"): c.get("function") or {}
        for m in messages[start:]
        if m.get("role") == "assistant"
        for c in m.get("tool_calls") or ()
        if isinstance(c, dict)
    }
    lines, gists = [], []
    for message in messages[start + 1 :]:
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
    if not requested and rounds is None:
        return _planned_turn(messages, body, prompt, tools, after, thinking=thinking)
    wanted = requested or [(name, None) for name in _named_tools(prompt, tools)]
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
