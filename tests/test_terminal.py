"""%%glm outside a notebook: terminal IPython (rich live view), pipes and `%%capture` (plain text).

The terminal tests run the real `ipython` on a pseudo-terminal against the local server and read
the final screen back through a VT100 emulator (pyte), as a person would see it.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys

import pytest

from glm_notebook import GLMClient
from glm_notebook.notebook.display import run_stream
from glm_notebook.notebook.terminal import TextSink, footer_text
from glm_notebook.results.reply import Reply
from glm_notebook.wire.events import ContentDelta, Finish, ReasoningDelta, Retrying, StreamStart

from .terminal_harness import Terminal

# What a hostile answer may try: write the clipboard (OSC 52), clear the screen, move the cursor,
# set the window title, ring the bell.
HOSTILE = "\x1b]52;c;SGVsbG8=\x07\x1b[2J\x1b[1;1H\x1b]0;pwned\x1b\\\x07"
FOOTER = re.compile(r"glm-4\.6 · [\d,]+ tokens · \$[\d.]+ · [\d.]+ s")


@pytest.fixture
def terminal(tmp_path, server):
    term = Terminal(dict(os.environ), tmp_path, cols=160, rows=50)
    term.run("%load_ext glm_notebook")
    yield term
    term.close()


# -- terminal IPython ---------------------------------------------------------------------------


def test_terminal_shows_rendered_markdown_reasoning_and_footer(terminal: Terminal) -> None:
    cell = terminal.run("%%glm\nExplain the tides [[delay=0.005]]")
    lines = cell.splitlines()
    assert lines[0] == "In [2]: %%glm"
    answer = "\n".join(lines[2:])
    assert re.search(r"^Reasoning · \d+ words · [\d.]+ s$", answer, re.M), cell
    # rendered: the heading, bold, code and table markup are gone, the words stay
    assert "Explain the tides" in answer and "##" not in answer and "**" not in answer
    assert "• Words: your prompt has 3 words." in answer
    assert "```" not in answer and "|---|" not in answer and "Measure" in answer
    # the footer, then Out[2] on a line of its own, then the next prompt
    assert FOOTER.search(lines[-2]), cell
    assert re.fullmatch(r"Out\[2\]: <Reply glm-4\.6: \d+ chars, finished>", lines[-1]), cell
    assert "Thinking ·" not in cell and "Waiting for" not in cell  # live-only lines are gone
    # the reasoning is dimmed (SGR 2), live and in its summary
    assert re.search(rb"\x1b\[2;3m[^\x1b]*The user asks", terminal.raw)
    assert re.search(rb"\x1b\[2mReasoning \xc2\xb7 \d+ words", terminal.raw)


def test_terminal_ctrl_c_keeps_the_partial_answer_once(terminal: Terminal) -> None:
    terminal.type("%%glm\nSlow one [[delay=0.05]]")
    terminal.interrupt_after("You asked")
    lines = terminal.wait().splitlines()
    assert lines[2].startswith("Reasoning · ") and lines[3] == "Slow one"  # each line once
    assert re.match(r"⚠ interrupted · glm-4\.6 · \d+ characters received", lines[-2]), lines
    assert lines[-1].startswith("KeyboardInterrupt: interrupted; the partial answer")


def test_terminal_tall_answer_streams_its_last_screenful_then_shows_all(tmp_path, server) -> None:
    term = Terminal(dict(os.environ), tmp_path, cols=100, rows=20)
    try:
        term.run("%load_ext glm_notebook")
        cell = term.run("%%glm\nLong one [[huge=2500,delay=0.002]]")
    finally:
        term.close()
    assert b"lines above" in term.raw  # frames were cut to the screen while streaming
    sections = re.findall(r"^Section (\d+)$", cell, re.M)
    assert sections and sections == sorted(set(sections), key=int)  # each once, in order
    assert sections[0] == "1" and "lines above" not in cell
    assert re.search(r"^Out\[2\]: <Reply", cell, re.M)


def test_terminal_never_writes_control_sequences_from_the_model(terminal: Terminal) -> None:
    escaped = HOSTILE.encode("unicode_escape").decode()
    terminal.run(f'p = "{escaped}"')
    start = len(terminal.raw)
    cell = terminal.run("%%glm\n[[echo]] before {p} after")
    written = bytes(terminal.raw[start:])
    for sequence in (b"\x1b]52", b"\x1b[2J", b"\x1b[1;1H", b"\x1b]0;pwned", b"\x07"):
        assert sequence not in written
    assert re.search(r"^before\s+after$", cell, re.M), cell
    # under %%capture the answer is plain text, cleaned too
    assert terminal.run("%%capture cap\n%%glm\n[[echo]] captured {p} text").count("\n") == 2
    shown = terminal.run("print(repr(cap.stdout))")
    assert re.search(r"Reasoning · 3 words · [\d.]+ s\\n\\ncaptured  text\\n\\n— glm-4\.6 · ", shown), shown
    assert "\\x1b" not in shown and "\\x07" not in shown


# -- plain text: pipes, %%capture, no rich ------------------------------------------------------


def test_piped_ipython_gets_plain_text(server) -> None:
    escaped = HOSTILE.encode("unicode_escape").decode()
    source = f'%load_ext glm_notebook\np = "{escaped}"\n%%glm\nSay hi {{p}} there\n\n\n'
    done = subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", "--HistoryManager.enabled=False", "--colors=NoColor"],
        input=source, capture_output=True, text=True, timeout=120, env=dict(os.environ),
    )  # fmt: skip
    out = done.stdout
    # the reasoning summary, the Markdown source as it arrived, the footer, Out[3] on its own line
    assert re.search(r"Reasoning · \d+ words · [\d.]+ s\n\n## Say hi  there\n", out), out
    assert re.search(
        r"\n\n— " + FOOTER.pattern + r".*\nOut\[3\]: <Reply glm-4\.6: \d+ chars, finished>\n", out
    ), out
    assert "\x1b" not in out and "\x07" not in out


def test_plain_sink_strips_controls_split_across_pieces() -> None:
    out = io.StringIO()
    sink = TextSink(out)
    assert sink.styled is False  # a StringIO is not a terminal
    pieces = ["Hi \x1b", "]52;c;SGVs", "bG8=\x07 **there** \x1b[", "2", "J and \x9b", "1A", " done\x1b"]
    reply = Reply()
    sink.start()
    for event in [
        StreamStart("id", "glm-4.6", 1),
        ReasoningDelta("Hmm."),
        *map(ContentDelta, pieces),
        Finish("stop"),
    ]:
        sink.event(event)
        reply.apply(event)
    reply.finish()
    sink.finish(reply, failed=False)
    text = out.getvalue()
    assert text.startswith("Reasoning · 1 word · ")
    assert "\n\nHi  **there**  and  done\n\n— glm-4.6 · " in text
    assert "SGVs" not in text and not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", text)
    assert text.endswith("\n")


def test_plain_sink_says_when_it_retries_on_its_own_line() -> None:
    out = io.StringIO()
    sink = TextSink(out)
    sink.start()
    sink.event(Retrying(1, 2, 1.5, "busy \x1b[2J(code 1305)\nplease wait"))
    sink.event(ContentDelta("Answer"))
    sink.finish(None, failed=False)
    assert out.getvalue() == "retrying (1/2) in 1.5 s: busy (code 1305) please wait\nAnswer\n"


def test_plain_sink_through_a_real_stream(server) -> None:
    out = io.StringIO()
    with GLMClient(server.api_key, server.base_url) as client:
        reply, error = run_stream(client, f"[[echo]] a{HOSTILE}b", {"model": "glm-4.6"}, TextSink(out))
    assert error is None and reply.text == f"a{HOSTILE}b"  # the Reply keeps what the model sent
    text = out.getvalue()
    assert "\nab\n\n— glm-4.6 · " in text and "\x1b" not in text and text.endswith("\n")


def test_a_terminal_stream_is_styled_a_dumb_one_is_not(monkeypatch) -> None:
    master, slave = os.openpty()
    try:
        with os.fdopen(slave, "w", closefd=False) as tty:
            assert TextSink(tty).styled is True
            monkeypatch.setenv("TERM", "dumb")
            assert TextSink(tty).styled is False
    finally:
        os.close(master)
        os.close(slave)


def test_footer_text_calls_out_an_unusual_ending_on_one_clean_line() -> None:
    reply = Reply(model="glm-4.6")
    reply.apply(ContentDelta("partial"))
    reply.finish(stopped="error", error="server said \x1b[31mno\x1b[0m\nreally")
    footer = footer_text(reply)
    assert footer.startswith("⚠ incomplete · glm-4.6 · 7 characters received")  # the error line says why
    assert "\x1b" not in footer and "\n" not in footer


def test_terminal_shows_a_tool_call_forming_then_its_result(terminal: Terminal) -> None:
    source = 'def weather(location: str) -> str:\n    """Current weather. location: the city"""\n    return f"18 °C in {location}"'
    terminal.run(f"exec({source!r})")  # one line: the terminal would indent a typed body again
    cell = terminal.run('%%glm --tools weather\nWhat is the weather in "Florence"? [[delay=0.05]]')
    raw = terminal.raw.decode("utf-8", "replace")
    assert '· weather(location="Flor' in raw or "· weather(…" in raw  # drawn while the arguments arrived
    assert '· weather(location="Florence") → 18 °C in Florence' in cell, cell


def test_terminal_lists_web_sources_under_the_answer(terminal: Terminal) -> None:
    cell = terminal.run("%%glm --web --web-count 2\nWhat changed in pandas 3.0?")
    assert re.search(r"^Sources:$", cell, re.M), cell
    assert re.search(r"^\[1\] .+ — Example \w+ · 2026-11-\d\d · https://", cell, re.M), cell
    assert re.search(r"^\[2\] ", cell, re.M) and not re.search(r"^\[3\] ", cell, re.M), cell
    assert "[ref_" not in cell and re.search(r"\w \[[12]\]", cell), cell  # cited as the list numbers them
