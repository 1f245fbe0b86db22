"""`{name}` interpolation rules for %%glm prompts, the note about undefined names, and the API
key never leaving in a prompt (unit tests, then a real kernel against the local server)."""

from __future__ import annotations

import pytest

from glm_notebook.client.interpolate import (
    InterpolationError,
    interpolate,
    interpolate_prompt,
    mask_secret,
)

from .kernel_harness import Kernel


class Thing:
    size = 3

    @property
    def inner(self) -> Thing:
        return self

    def __str__(self) -> str:
        return "a thing"


NS = {"name": "Ada", "n": 3, "thing": Thing(), "_": "last"}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Hi {name}!", "Hi Ada!"),
        ("{n} + {n}", "3 + 3"),
        ("{thing} of size {thing.size} / {thing.inner.size}", "a thing of size 3 / 3"),
        ("{_}", "last"),
        ("literal {{name}} and {{thing.size}}", "literal {name} and {thing.size}"),
        ("undefined {missing} stays", "undefined {missing} stays"),
        ("{missing.attr} stays", "{missing.attr} stays"),
        (
            "{ name } {name } {1} {n+1} {f(n)} {n[0]} {n!r} {n:>3}",
            "{ name } {name } {1} {n+1} {f(n)} {n[0]} {n!r} {n:>3}",
        ),
        ('JSON {"a": {"b": 1}} stays', 'JSON {"a": {"b": 1}} stays'),
        ("{{ jinja }} and {% tag %}", "{{ jinja }} and {% tag %}"),
        (
            "def f():\n    return {k: v for k, v in d.items()}",
            "def f():\n    return {k: v for k, v in d.items()}",
        ),
        ("{print} is a builtin, not a variable", "{print} is a builtin, not a variable"),
        ("$name and $n are not expanded", "$name and $n are not expanded"),
        ("", ""),
    ],
)
def test_rules(text: str, expected: str) -> None:
    assert interpolate(text, NS) == expected


def test_missing_attribute_of_a_defined_name_is_an_error() -> None:
    with pytest.raises(InterpolationError) as info:
        interpolate("Tell me {thing.sise}", NS)
    message = str(info.value)
    assert "{thing.sise}" in message and "'sise'" in message and "--no-interpolate" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "text, undefined",
    [
        ("Tell me about {topc}", ("topc",)),
        ("{a} {b.c} {a} {name}", ("a", "b.c")),  # each once, in order; defined names are not noted
        ("Hello {name}, {{literal}}", ()),
        # code and other template syntaxes are not nagged about
        ("Run `print({x})` and `` {y} ``", ()),
        ("```python\nprint(f'{z}')\n```\nthen {w}", ("w",)),
        ("~~~\n{z}\n", ()),  # an unclosed fence runs to the end
        ('print(f"hi {who}!")', ()),
        ('greeting = "Dear {who}".format(who=n)', ()),
        ("echo ${HOME} and #{ruby} and %{fmt}", ()),
        ("GET /users/{id}/posts and {id}/raw", ()),
        ('JSON {"a": {"b": 1}} and { spaced }', ()),
    ],
)
def test_undefined_names_that_look_intended_are_reported(text: str, undefined: tuple[str, ...]) -> None:
    result = interpolate_prompt(text, NS)
    assert result.undefined == undefined
    assert result.text == interpolate(text, NS)


def test_the_note_is_one_quiet_line() -> None:
    assert interpolate_prompt("{name}", NS).notes == []
    [note] = interpolate_prompt("{topc} and {other}", NS).notes
    assert note == (
        "note: {topc}, {other} are not defined; sent as written (write {{topc}} to send braces on purpose)"
    )


@pytest.mark.parametrize(
    "text",
    [
        r"Prove $\sum_{i=1}^{n} i = \frac{n(n+1)}{2}$ for all {n}",
        r"$$\binom{n}{k} = \frac{n!}{k!(n-k)!}$$ with {n}",
        r"\(x^{n}\) and \[ \sqrt{x} \] then {n}",
        "\\begin{align}\n a_{n} &= {k} \\\\\n\\end{align}\nand {n}",
        "Inline $a_{n}$ and over two lines $b +\nc_{k}$ and {n}",
    ],
)
def test_tex_math_is_left_alone_and_raises_no_note(text: str) -> None:
    result = interpolate_prompt(text, NS)
    assert result.text == text[: text.rindex("{n}")] + "3"  # only the field outside the math
    assert result.notes == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("It costs $5 for {n} items and $10 for more", "It costs $5 for 3 items and $10 for more"),
        ("`$x` and {n} and `$y`", "`$x` and 3 and `$y`"),  # a dollar in code opens no math
        ("$ {n} $", "$ 3 $"),  # spaces inside the dollars: not math
    ],
)
def test_dollars_that_are_not_math_do_not_protect(text: str, expected: str) -> None:
    assert interpolate(text, NS) == expected


def test_expressions_are_sent_as_written_with_one_note() -> None:
    result = interpolate_prompt("{len(thing)}, {thing.inner()}, {n[0]} and {name}; `{len(x)}`, {f(x)}", NS)
    assert result.text == "{len(thing)}, {thing.inner()}, {n[0]} and Ada; `{len(x)}`, {f(x)}"
    assert result.expressions == ("len(thing)", "thing.inner()", "n[0]")  # f is not defined: not ours
    assert result.notes == [
        "note: {len(thing)}, {thing.inner()}, {n[0]} sent as written: only {name} and {name.attr} are "
        "filled in, nothing is evaluated (assign the value to a name first)"
    ]


def test_mask_secret_replaces_every_occurrence() -> None:
    assert mask_secret("a KEY b KEY", "KEY", "[hidden]") == ("a [hidden] b [hidden]", 2)
    assert mask_secret("nothing here", "KEY", "[hidden]") == ("nothing here", 0)
    assert mask_secret("no key set", None, "[hidden]") == ("no key set", 0)


# -- in a real kernel ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def k(kernel: Kernel) -> Kernel:
    run = kernel.run("%load_ext glm_notebook\nimport os")
    assert run.error is None, run.messages
    return kernel


def test_a_typo_is_sent_as_written_with_one_note(k: Kernel, server) -> None:
    k.run("topic = 'tides'")
    run = k.run("%%glm -o r\n[[echo]] Explain {topc}, not {topic}, in `{code}`")
    assert run.error is None and run.stderr == ""  # the live view is replaced: the result says it
    [result] = run.of_type("execute_result")
    assert (
        '<p class="glm-note">note: {topc} is not defined; sent as written (write {{topc}} to send '
        "braces on purpose)</p>"
    ) in result["data"]["text/html"]
    assert (
        server.records[-1].body["messages"][-1]["content"].endswith("Explain {topc}, not tides, in `{code}`")
    )
    clean = k.run("%%glm\n[[echo]] All {topic} here")
    assert (
        clean.error is None
        and 'class="glm-note"' not in clean.of_type("execute_result")[0]["data"]["text/html"]
    )


def test_math_keeps_its_braces_in_a_kernel_and_expressions_get_a_note(k: Kernel, server) -> None:
    k.run("n = 1000\nvalues = [1, 2]")
    run = k.run("%%glm\nWhy is $\\sum_{i=1}^{n} i = \\frac{n(n+1)}{2}$? n is {n}, {len(values)} values")
    assert run.error is None
    sent = server.records[-1].body["messages"][-1]["content"]
    assert sent.endswith("Why is $\\sum_{i=1}^{n} i = \\frac{n(n+1)}{2}$? n is 1000, {len(values)} values")
    html = run.of_type("execute_result")[0]["data"]["text/html"]
    assert "{len(values)} sent as written" in html and "not defined" not in html


def test_the_api_key_is_never_sent_in_a_prompt(k: Kernel, server) -> None:
    key = server.api_key
    k.run("%glm reset --all")
    run = k.run("%%glm -c leak -o leak_reply\n[[echo]] Here is my environment: {os.environ}")
    assert run.error is None and run.stderr == ""
    [result] = run.of_type("execute_result")
    assert (
        "note: the prompt held your API key; [API key hidden] was sent in its place"
        in result["data"]["text/html"]
    )
    sent = server.records[-1].body
    assert key not in repr(sent) and "[API key hidden]" in sent["messages"][-1]["content"]
    assert "ZAI_BASE_URL" in sent["messages"][-1]["content"]  # the rest of the mapping did go
    assert key not in repr(run.outputs) and key not in k.run("print(leak_reply.text)").stdout
    # a system prompt (option or setting) and a later turn of the conversation are masked too
    k.run(f"%config GLM.system = 'Key {key}'")
    try:
        again = k.run("%%glm -c leak -s 'Use {os.environ[ZAI_API_KEY]} and {os.environ}'\n[[echo]] again")
        configured = k.run("%%glm\n[[echo]] plain")
    finally:
        k.run("%config GLM.system = None")
    assert again.error is None and configured.error is None
    for record in server.records[-2:]:
        assert key not in repr(record.body)
    assert (
        server.records[-2]
        .body["messages"][0]["content"]
        .startswith("Use {os.environ[ZAI_API_KEY]} and environ(")
    )
    assert server.records[-1].body["messages"][0]["content"] == "Key [API key hidden]"
    history = k.run("%glm history leak").result
    assert "[API key hidden]" in history["text/plain"] and key not in repr(history)


def test_a_value_whose_text_fails_is_one_line_naming_the_failure() -> None:
    class Broken:
        def _repr_llm_(self) -> str:
            raise RuntimeError("summary exploded")

    class BadStr:
        @property
        def inner(self) -> object:
            return self

        def __str__(self) -> str:
            return self.missing  # an AttributeError inside __str__, not a missing attribute

    for spec, namespace, expected in [
        ("{b}", {"b": Broken()}, "{b}: turning the value into text failed (RuntimeError: summary exploded)"),
        ("{s}", {"s": BadStr()}, "{s}: turning the value into text failed (AttributeError:"),
        ("{s.inner}", {"s": BadStr()}, "{s.inner}: turning the value into text failed (AttributeError:"),
        ("{s.nope}", {"s": BadStr()}, "{s.nope}: 'BadStr' object has no attribute 'nope'"),
    ]:
        with pytest.raises(InterpolationError) as caught:
            interpolate_prompt(f"Look at {spec}", namespace)
        assert str(caught.value).startswith(expected) and "\n" not in str(caught.value), str(caught.value)
