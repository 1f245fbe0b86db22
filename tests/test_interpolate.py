"""`{name}` interpolation rules for %%glm prompts."""

from __future__ import annotations

import pytest

from glm_notebook.notebook.interpolate import InterpolationError, interpolate


class Thing:
    size = 3

    @property
    def inner(self) -> "Thing":
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
        ("{ name } {name } {1} {n+1} {f(n)} {n[0]} {n!r} {n:>3}", "{ name } {name } {1} {n+1} {f(n)} {n[0]} {n!r} {n:>3}"),
        ('JSON {"a": {"b": 1}} stays', 'JSON {"a": {"b": 1}} stays'),
        ("{{ jinja }} and {% tag %}", "{{ jinja }} and {% tag %}"),
        ("def f():\n    return {k: v for k, v in d.items()}", "def f():\n    return {k: v for k, v in d.items()}"),
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
