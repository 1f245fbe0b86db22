"""`%glm history`: a readable view of a `%%glm -c` conversation, HTML in a notebook and wrapped
plain text elsewhere, with model text rendered safely / cleaned of control sequences."""

from __future__ import annotations

import re

import pytest

from glm_notebook import Chat
from glm_notebook.render.history_view import LONG_CHARS, chat_view
from glm_notebook.results.reply import Reply
from glm_notebook.wire.events import ContentDelta

from .kernel_harness import Kernel
from .test_render import OUR_STYLE, assert_inert, parse, without_style

SENTENCE = "walk through the old town, stop for pastries, then take the tram up the hill"
HOSTILE = "\x1b]52;c;SGVsbG8=\x07\x1b[2J<img src=x onerror=alert(1)>"


def conversation(answer: str) -> Chat:
    found = Chat(name="trip")
    reply = Reply()
    reply.apply(ContentDelta(answer))
    found.record("Plan a day in **Lisbon**", reply)
    return found


def test_plain_text_wraps_at_word_boundaries_and_keeps_code() -> None:
    code = "x = 1  # " + "a long comment " * 10
    text = repr(
        chat_view(conversation(f"## Plan\n\n- {SENTENCE} {SENTENCE}\n\n```python\n{code}\n```\n{HOSTILE}"))
    )
    lines = text.splitlines()
    assert lines[0] == "Conversation 'trip' · 1 turn"
    assert lines[1] == "default model"  # the facts line: model, tokens, cost (none here)
    assert lines[3].startswith("── user ") and lines[4] == "Plan a day in **Lisbon**"
    assert lines[6].startswith("── assistant ")
    prose = [line for line in lines if "old town" in line or "tram" in line]
    assert len(prose) >= 2 and all(len(line) <= 88 for line in prose)
    words = " ".join(line.strip() for line in lines[lines.index("## Plan") + 2 :][:3]).split()
    assert " ".join(words).startswith(f"- {SENTENCE} {SENTENCE}")  # no word was cut
    assert code.rstrip() in text  # code is never re-wrapped
    assert "\x1b" not in text and "\x07" not in text and "SGVsbG8" not in text


def test_html_renders_each_message_and_collapses_long_ones() -> None:
    long_answer = f"# Long\n\n{SENTENCE}.\n\n" * (LONG_CHARS // len(SENTENCE) + 1) + "The end."
    html = chat_view(conversation(long_answer + HOSTILE))._repr_html_()
    assert OUR_STYLE.match(html)
    assert_inert(without_style(html))
    assert '<p class="glm-history-role"><strong>user</strong></p>' in html
    assert "<strong>Lisbon</strong>" in html  # the prompt is rendered Markdown too
    tree = parse(html)
    assert "The end." in "".join(tree.text)  # the whole message is there: collapsed, not cut
    assert re.search(r'<details class="glm-history-long"><summary>.*\(\d[\d,]* characters, \d+ lines\)', html)
    assert "SGVsbG8" not in html and "\x1b" not in html


def test_images_show_as_thumbnails_never_as_base64() -> None:
    pytest.importorskip("PIL")
    import base64
    import io

    from PIL import Image

    from glm_notebook.client.content import content_parts

    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), (10, 200, 30)).save(buffer, format="PNG")
    found = Chat(name="pics")
    reply = Reply()
    reply.apply(ContentDelta("A green rectangle <img src=x onerror=alert(1)>"))
    found.record(content_parts(["What is this?", buffer.getvalue()]), reply)
    history = chat_view(found)
    html = history._repr_html_()
    original = base64.b64encode(buffer.getvalue()).decode()
    assert original[:100] not in html and original[:100] not in repr(history)
    assert (
        len(
            re.findall(
                r'<img class="glm-thumb" src="data:image/jpeg;base64,[A-Za-z0-9+/=]+" alt="\[image 300×200 PNG\]"',
                html,
            )
        )
        == 1
    )
    assert html.count("<img") == 1  # the model's img stays text
    assert "[image 300×200 PNG]" in repr(history)
    assert re.search(
        r'<div class="glm-history-message glm-history-user">.*<div class="glm-thumbs">.*?</div></div>',
        html,
        re.S,
    )


def test_empty_conversation() -> None:
    history = chat_view(Chat(name="nothing"))
    assert repr(history) == "Conversation 'nothing' is empty."
    assert "<strong>Conversation 'nothing' is empty.</strong>" in history._repr_html_()


def test_history_in_a_kernel_is_one_display_with_html_and_text(k: Kernel) -> None:
    k.run("%glm reset --all")
    k.run(f"evil = {HOSTILE!r}")
    first = k.run("%%glm -c trip\n[[echo]] Plan a day in Lisbon {evil} please")
    assert first.error is None
    run = k.run("%glm history trip")
    assert run.error is None and [kind for kind, _ in run.messages] == ["execute_result"]
    data = run.messages[0][1]["data"]
    assert re.match(
        r"Conversation 'trip' · 1 turn\nglm-[\w.]+ · [\d,]+ prompt \+ [\d,]+ completion tokens · \$[\d.]+\n\n── user ",
        data["text/plain"],
    )
    assert "\nPlan a day in Lisbon <img src=x onerror=alert(1)> please" in data["text/plain"]
    assert "\x1b" not in repr(run.outputs) and "SGVsbG8" not in repr(run.outputs)
    assert_inert(without_style(data["text/html"]))
