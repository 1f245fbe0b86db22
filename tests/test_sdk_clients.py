"""The official `openai` and `zai-sdk` clients against the local server, as proof that it speaks
the service's wire: streaming, tool calls, web search sources and the errors of an unknown
model, read through someone else's parser."""

from __future__ import annotations

import json

import pytest

openai = pytest.importorskip("openai")
zai = pytest.importorskip("zai")

WEATHER = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "the city"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture(params=["openai", "zai-sdk"])
def sdk(request, server):
    if request.param == "openai":
        return openai.OpenAI(api_key=server.api_key, base_url=server.base_url, max_retries=0)
    return zai.ZaiClient(api_key=server.api_key, base_url=server.base_url, max_retries=0)


def test_a_streamed_answer_assembles_in_the_official_clients(sdk, server) -> None:
    stream = sdk.chat.completions.create(
        model="glm-4.6", messages=[{"role": "user", "content": "Plan a day in Lisbon"}], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("## Plan a day in Lisbon") and chunks[-1].usage.total_tokens > 0
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        "stop"
    ]
    assert len({c.id for c in chunks}) == 1


def test_tool_calls_stream_in_fragments_joined_by_index(sdk, server) -> None:
    stream = sdk.chat.completions.create(
        model="glm-4.6",
        messages=[{"role": "user", "content": 'What is the weather in "Florence"?'}],
        tools=[WEATHER],
        extra_body={"tool_stream": True},
        stream=True,
    )
    pieces: dict[int, list[str]] = {}
    names = set()
    for chunk in stream:
        for call in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
            names.add(call.function.name)
            pieces.setdefault(call.index, []).append(call.function.arguments or "")
    assert names - {None, ""} == {"weather"} and len(pieces[0]) > 2
    assert json.loads("".join(pieces[0])) == {"city": "Florence"}


def _said(error: Exception) -> str:
    """What an SDK's error carries: its message, and the service's code where it keeps it apart."""
    return f"{getattr(error, 'code', '')} {error}"


def test_an_unknown_model_and_an_unknown_field_are_400s_with_the_services_codes(sdk, server) -> None:
    errors = (openai.BadRequestError, zai.core.APIRequestFailedError)
    with pytest.raises(errors) as unknown:
        sdk.chat.completions.create(
            model="glm-4.66", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    assert "1211" in _said(unknown.value)
    with pytest.raises(errors) as field:
        sdk.chat.completions.create(
            model="glm-4.6", messages=[{"role": "user", "content": "hi"}], extra_body={"n": 2}
        )
    assert "1210" in _said(field.value) and "parameter n" in _said(field.value)


def test_web_search_sources_reach_the_official_clients(sdk, server) -> None:
    tool = {"type": "web_search", "web_search": {"enable": True, "search_result": True, "count": 2}}
    reply = sdk.chat.completions.create(
        model="glm-4.6", messages=[{"role": "user", "content": "What changed in pandas 3.0?"}], tools=[tool]
    )
    extra = reply.model_extra or {}
    assert [s["refer"] for s in extra["web_search"]] == ["ref_1", "ref_2"]
    assert "[ref_1]" in reply.choices[0].message.content
