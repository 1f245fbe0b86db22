"""Functions as tools: schemas from type hints and docstrings, arguments back into Python."""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Annotated, Literal

import pydantic
import pytest
from typing_extensions import TypedDict

from glm_notebook import Tool, ToolArgumentsError, tool
from glm_notebook.client.tools import ToolSet, result_text, runs_tools


class Unit(enum.Enum):
    C = "celsius"
    F = "fahrenheit"


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0


class Window(TypedDict):
    start: str
    days: int


class Filter(pydantic.BaseModel):
    tag: str
    limit: int = 10


def everything(
    text: str,
    count: int,
    ratio: float,
    flag: bool,
    mode: Literal["fast", "slow"],
    unit: Unit,
    tags: list[str],
    weights: dict[str, float],
    note: str | None = None,
    point: Point | None = None,
    window: Window | None = None,
    filter: Filter | None = None,
    loose=3,
):
    """Exercise every supported type.

    Longer explanation that stays in the description.

    Args:
        text: some text
        count: how many
    """


def test_the_recorded_weather_schema_comes_from_a_plain_function():
    def weather(location: str) -> str:
        """Get weather information for a location

        location: the city
        """

    assert tool(weather).schema() == {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "Get weather information for a location",
            "parameters": {
                "properties": {"location": {"description": "the city", "type": "string"}},
                "required": ["location"],
                "type": "object",
            },
        },
    }


def test_every_type_of_the_list_has_a_schema():
    t = tool(everything)
    assert (
        t.description == "Exercise every supported type.\n\nLonger explanation that stays in the description."
    )
    props = t.parameters["properties"]
    assert props["text"] == {"description": "some text", "type": "string"}
    assert props["count"] == {"description": "how many", "type": "integer"}
    assert props["ratio"] == {"type": "number"} and props["flag"] == {"type": "boolean"}
    assert props["mode"] == {"enum": ["fast", "slow"], "type": "string"}
    assert props["unit"] == {"enum": ["celsius", "fahrenheit"], "type": "string"}
    assert props["tags"] == {"items": {"type": "string"}, "type": "array"}
    assert props["weights"] == {"additionalProperties": {"type": "number"}, "type": "object"}
    assert props["note"] == {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
    point = props["point"]["anyOf"][0]
    assert point["properties"] == {"x": {"type": "integer"}, "y": {"default": 0, "type": "integer"}}
    assert props["window"]["anyOf"][0]["required"] == ["start", "days"]
    assert props["filter"]["anyOf"][0]["properties"]["limit"] == {"default": 10, "type": "integer"}
    assert props["loose"] == {"default": 3}
    assert t.parameters["required"] == ["text", "count", "ratio", "flag", "mode", "unit", "tags", "weights"]
    assert "$defs" not in t.parameters and "title" not in str(t.parameters)


def test_arguments_are_validated_and_converted_back():
    args, kwargs = tool(everything).bind(
        '{"text":"a","count":"2","ratio":1,"flag":true,"mode":"slow","unit":"celsius","tags":["x"],'
        '"weights":{"w":0.5},"point":{"x":1},"window":{"start":"mon","days":2},"filter":{"tag":"t"}}'
    )
    assert args == []
    assert kwargs["count"] == 2 and kwargs["unit"] is Unit.C and kwargs["point"] == Point(1, 0)
    assert kwargs["filter"] == Filter(tag="t") and kwargs["window"] == {"start": "mon", "days": 2}
    assert kwargs["note"] is None and kwargs["loose"] == 3


@pytest.mark.parametrize(
    "arguments, message",
    [
        ('{"text": "a"', "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"text": 5}', "text: Input should be a valid string"),
        ('{"text": "a"}', "count: Field required"),
    ],
)
def test_bad_arguments_say_what_is_wrong(arguments, message):
    with pytest.raises(ToolArgumentsError, match=message):
        tool(everything).bind(arguments)


def test_docstring_styles_numpy_and_sphinx_and_annotated_fields():
    def numpy_style(a: int) -> int:
        """Double it.

        Parameters
        ----------
        a : int
            the number
        """

    def sphinx_style(a: int, b: Annotated[int, pydantic.Field(description="from Field", ge=0)] = 1) -> int:
        """Add.

        :param a: first
        """

    assert tool(numpy_style).parameters["properties"]["a"]["description"] == "the number"
    props = tool(sphinx_style).parameters["properties"]
    assert props["a"]["description"] == "first"
    assert props["b"] == {"default": 1, "description": "from Field", "minimum": 0, "type": "integer"}


def test_decorator_names_positional_only_and_kwargs():
    @tool(name="lookup", description="Find a thing")
    def find(key: str, /, *, exact: bool = False, **extra: str) -> str:
        return f"{key}:{exact}:{sorted(extra)}"

    assert isinstance(find, Tool) and find.name == "lookup" and find.description == "Find a thing"
    args, kwargs = find.bind('{"key": "k", "exact": true, "other": "x"}')
    assert find(*args, **kwargs) == "k:True:['other']"


def test_refusals_are_clear():
    with pytest.raises(ValueError, match="not a valid tool name"):
        tool(lambda x: x)

    class Opaque:
        pass

    def needs(thing: Opaque) -> None: ...

    with pytest.raises(TypeError, match="tool needs: a parameter type has no JSON schema"):
        tool(needs)


class Node(pydantic.BaseModel):
    name: str
    children: list[Node] = []


def test_a_recursive_type_keeps_its_definitions():
    def walk(root: Node) -> int: ...

    schema = tool(walk).parameters
    assert "$defs" in schema and schema["properties"]["root"] == {"$ref": "#/$defs/Node"}


def test_raw_dicts_pass_through_untouched_and_do_not_start_the_loop():
    raw = {"type": "function", "function": {"name": "raw", "parameters": {"type": "object"}, "strict": False}}
    assert not runs_tools([raw]) and runs_tools([raw, everything]) and not runs_tools(None)
    tools = ToolSet([raw, everything])
    assert tools.wire[0] is raw and tools.raw_names == {"raw"} and list(tools.callable) == ["everything"]
    with pytest.raises(ValueError, match="two tools are named"):
        ToolSet([everything, everything])


def test_results_become_text():
    assert result_text("18 °C") == "18 °C"
    assert result_text({"t": "18 °C", "n": [1, 2]}) == '{"t": "18 °C", "n": [1, 2]}'
    assert result_text(5) == "5" and result_text(None) == "null" and result_text(True) == "true"
    assert result_text(Point(1, 2)) == '{"x": 1, "y": 2}'
    assert result_text(Filter(tag="a")) == '{"tag": "a", "limit": 10}'
    assert result_text(Unit.C) == "Unit.C"


def test_a_functions_tool_is_built_once_and_does_not_keep_it_alive():
    import gc
    import weakref

    def once(a: int) -> int:
        """Once."""
        return a

    first, second = tool(once), tool(once)
    assert first is not second and first._model is second._model and second(2) == 2
    ref = weakref.ref(once)
    del once, first, second
    gc.collect()
    assert ref() is None


# -- what a person approves ----------------------------------------------------------------------


def test_approval_shows_every_argument_with_both_ends_of_long_values() -> None:
    from glm_notebook.results.tool_reply import approval

    padding = "a" * 5000
    args = {"note": "x" * 150, "body": f"{padding}END", "path": "/home/victim/.bashrc"}
    asked = approval("write_file", json.dumps(args))
    assert [line.split(" = ")[0] for line in asked.lines] == ["note", "body", "path"]  # every name
    assert asked.lines[2] == 'path = "/home/victim/.bashrc"'
    assert asked.lines[1].endswith('END"') and "…[" in asked.lines[1] and len(asked.lines[1]) < 300
    assert asked.lines[0] == f'note = "{"x" * 150}"'  # 150 characters show whole
    assert asked.note == "1 long value shortened in the middle"
    question = asked.question()
    assert "/home/victim/.bashrc" in question and question.endswith("Run write_file? [y/N] ")


def test_approval_makes_invisible_and_direction_changing_characters_visible() -> None:
    from glm_notebook.results.tool_reply import approval

    tricky = {
        "path": "/tmp/\u202etxt.exe",  # right-to-left override
        "cmd": "ls\u200b -la\u2066\u2069",  # zero-width space, isolates
        "key\u200d": "tag\U000e0041\ufeff\x1b[2J",  # joiner in a name, a tag, BOM, an escape
    }
    asked = approval("run\u202e", json.dumps(tricky, ensure_ascii=False))
    text = "\n".join([asked.name, *asked.lines])
    for code in ("202E", "200B", "2066", "2069", "200D", "E0041", "FEFF"):
        assert f"<U+{code}>" in text, code
    assert "\\u001b[2J" in text  # JSON shows the escape as \u001b
    assert not any(ch in text for ch in "\u202e\u200b\u2066\u2069\u200d\ufeff\x1b")


def test_approval_says_what_it_left_out() -> None:
    from glm_notebook.results.tool_reply import approval

    many = approval("f", json.dumps({f"a{i}": i for i in range(40)}))
    assert len(many.lines) == 30 and "10 more arguments not shown" in many.note
    raw = approval("f", "not json " + "z" * 2000 + " tail")
    assert raw.lines[0].endswith(" tail") and "not a JSON object" in raw.note
    assert approval("f", '{"a": 1}').note == ""


@pytest.mark.parametrize("depth", [50_000, 2_000])
def test_deeply_nested_arguments_are_one_line(depth: int) -> None:
    """JSON nested past the recursion limit: a `ToolArgumentsError` line, which the loop sends
    back to the model. Nested less deeply, it binds or is that line (Pythons differ in how deep
    json and pydantic go), never a RecursionError."""

    def f(data: dict, n: int = 1) -> str:
        """f. data: anything; n: a number"""
        return "ok"

    nested = '{"data": ' + '{"a": ' * depth + "1" + "}" * depth + "}"
    try:
        tool(f).bind(nested)
    except ToolArgumentsError as exc:
        assert "\n" not in str(exc)
    else:
        assert depth < 10_000, "arguments nested 50,000 deep were accepted"


def test_views_and_approval_of_deeply_nested_arguments_do_not_raise() -> None:
    from glm_notebook.render.tool_view import _pretty_arguments
    from glm_notebook.results.tool_reply import ToolCall, approval

    deep = '{"a": ' + "[" * 50_000 + "]" * 50_000 + "}"
    call = ToolCall(step=1, index=0, id="c1", name="f", arguments=deep)
    assert call.args is None and call.signature().startswith("f(")
    assert "not a JSON object" in approval("f", deep).note
    assert call.summary()
    assert _pretty_arguments(deep) == deep  # the view shows them as the text they are
