"""%%glm in a real IPython kernel talking real HTTP to the local server: what a notebook sees."""

from __future__ import annotations

import json
import re
import time

import pytest

from glm_notebook.render.highlight import COPY_BUTTON
from glm_notebook.render.styles import style_tag
from glm_notebook.server import LocalServer, ServerConfig

from .kernel_harness import CellRun, Kernel
from .test_render import HOSTILE, OUR_STYLE, assert_inert, parse, without_style

NOTE = "This note comes from the local GLM test server"


def glm(kernel: Kernel, body: str, line: str = "", timeout: float = 120) -> CellRun:
    return kernel.run(f"%%glm {line}\n{body}", timeout=timeout)


def html_of(content: dict) -> str:
    return (content.get("data") or {}).get("text/html", "")


def updates(run: CellRun) -> list[tuple[str, str]]:
    """(display_id, text/html) of every update_display_data that carried HTML."""
    return [
        (content["transient"]["display_id"], html_of(content))
        for kind, content in run.messages
        if kind == "update_display_data" and html_of(content)
    ]


def visible(html: str) -> str:
    return "".join(parse(without_style(html)).text)


def one_line(run: CellRun) -> str:
    assert run.error is not None, run.messages
    assert len(run.error["traceback"]) == 1, run.error["traceback"]
    return run.error["traceback"][0]


def saved_text(run: CellRun) -> str:
    """Everything the saved notebook would hold for this cell."""
    return repr(run.outputs)


# -- streaming and the saved result -------------------------------------------------------------


def test_reasoning_collapses_in_the_update_that_shows_the_first_answer_text(k: Kernel) -> None:
    # One update, not two: a frame painted between two updates would be taller or shorter.
    run = glm(k, "Explain the tides [[delay=0.02]]")
    assert run.error is None
    shown = [
        (display_id, html) for display_id, html in updates(run) if '<details class="glm-reasoning' in html
    ]
    opened = [i for i, (_, html) in enumerate(shown) if '<details class="glm-reasoning" open>' in html]
    first_answer = next(
        i for i, (_, html) in enumerate(shown) if '</details></div><div class="glm-md' in html
    )
    assert opened and max(opened) < first_answer  # thinking shown until the answer starts
    display_id, html = shown[first_answer]
    assert '<details class="glm-reasoning"><summary>' in html  # collapsed, in the same update
    assert all(other == display_id for other, _ in shown)  # the reasoning has one display


def test_answer_grows_in_place_then_one_copy_remains(k: Kernel) -> None:
    run = glm(k, "Explain the tides [[delay=0.02]]")
    assert run.error is None
    displays = run.of_type("display_data")
    shown: dict[str, str] = {}  # display -> its current HTML
    lengths = []  # the text on screen after each update
    for display_id, html in updates(run):
        shown[display_id] = html
        lengths.append(sum(len(visible(pane)) for pane in shown.values()))
    assert len(lengths) >= 3
    assert lengths[0] < lengths[len(lengths) // 2] < lengths[-1]
    # Every pane starts with no data at all: nbval (which keeps the first display_data of each
    # output and ignores updates and clears) compares nothing for them.
    assert displays and all(content["data"] == {} for content in displays)
    # The end: one clear that waits for the next output, then the Reply; nothing in between.
    kinds = [kind for kind, _ in run.messages]
    assert kinds[-2:] == ["clear_output", "execute_result"], kinds[-5:]
    assert run.messages[-2][1]["wait"] is True
    # Saved outputs: the Reply once, and nothing else.
    [result] = run.outputs
    assert result["output_type"] == "execute_result"
    assert re.fullmatch(r"<Reply glm-4.6: \d+ chars, finished>", result["data"]["text/plain"])
    assert saved_text(run).count(NOTE) == 1
    assert result["metadata"]["glm_notebook"]["params"]["thinking"] == {"type": "enabled"}


def test_final_view_and_live_panes_are_never_typeset_and_carry_one_stylesheet(k: Kernel) -> None:
    # A server that answers any model name echoes a hostile one into the footer.
    with LocalServer(ServerConfig(api_key="k-any-model", models=None)) as lenient:
        k.run(f"%config GLM.base_url = {lenient.base_url!r}\n%config GLM.api_key = 'k-any-model'")
        try:
            run = glm(k, "Typeset $x$ please [[delay=0.005]]", line="-m glm-$x$")
        finally:
            k.run("%config GLM.base_url = None\n%config GLM.api_key = None")
    assert run.error is None
    final = run.result["text/html"]
    assert final.count('<style class="glm-style">') == 1
    root = re.search(r"<div class=\"glm-reply[^\"]*\"", final)
    assert root and "mathjax_ignore" in root.group(0) and "tex2jax_ignore" in root.group(0)
    # the model name (a server string) sits inside that root, in the footer
    assert final.index(root.group(0)) < final.index("glm-$x$") < final.rindex("</div>")
    panes: dict[str, str] = {}
    for display_id, html in updates(run):
        panes.setdefault(display_id, html)
        if display_id == next(iter(panes)):  # the stylesheet's own output, sent once
            assert html == style_tag() and panes[display_id] == html
            continue
        assert '<style class="glm-style">' not in html
        assert html.startswith('<div class="glm-reply glm-live mathjax_ignore tex2jax_ignore">')
        panes[display_id] = html
    assert sum(html == style_tag() for _, html in updates(run)) == 1


def test_status_line_follows_the_stream_and_shows_silence(k: Kernel) -> None:
    # Rate cap 2/s and a fast stream: the end of the answer is held back when the server goes
    # silent (stall before the final chunk). The ticker must draw it within one interval, long
    # before the stream goes on, and then say that no data came for a while. (The harness keeps
    # only messages whose parent is this cell: the ticker thread's draws must carry it.)
    k.run("%config GLM.updates_per_second = 2")
    try:
        run = glm(k, "[[echo,delay=0.003,stall=4.5,at=100000]] " + "words " * 150 + "zebrafinale")
    finally:
        k.run("%config GLM.updates_per_second = 20")
    assert run.error is None
    clear_at = [kind for kind, _ in run.messages].index("clear_output")
    before_end = [html_of(c) for kind, c in run.messages[:clear_at] if kind == "update_display_data"]
    whole = [i for i, html in enumerate(before_end) if "zebrafinale" in visible(html)]
    assert whole, "the held-back end of the answer was not drawn while the server was silent"
    silence = [i for i, html in enumerate(before_end) if re.search(r"no data for \d+ s", visible(html))]
    assert silence and silence[0] > whole[0], before_end[-1][-300:]
    statuses = [re.findall(r'<p class="glm-status"><small>(.*?)</small>', html) for html in before_end]
    assert any("receiving… " in s[0] for s in statuses if s)


def test_retry_notice_in_the_status_line(k: Kernel) -> None:
    run = k.run(
        "from glm_notebook.notebook.display import LiveSink\n"
        "from glm_notebook.wire.events import Retrying\n"
        "sink = LiveSink(updates_per_second=20, waiting='Waiting for glm-4.6…')\n"
        "sink.start()\n"
        "sink.event(Retrying(1, 2, 1.5, 'rate limit (code 1302)\\n\\x1b[2J'))\n"
        "import time; time.sleep(0.3)\n"
        "sink.finish(None, failed=True)\n"
    )
    assert run.error is None
    shown = [visible(html) for _, html in updates(run)]
    assert shown[0] == "" and shown[1] == "Waiting for glm-4.6…"  # the stylesheet, then the pane
    assert "Waiting for glm-4.6… retrying after rate limit (code 1302) (1/2) in 1.5 s" in shown, shown
    assert len(run.outputs) == 2 and run.clear_pending  # the next output replaces them


def test_a_real_retry_shows_in_the_status_line(k: Kernel) -> None:
    run = glm(k, "Busy first [[status=429,code=1302,times=1,tag=display-retry]]")
    assert run.error is None
    shown = [visible(html) for _, html in updates(run)]
    assert any(
        re.search(r"retrying after rate limit \(code 1302\) \(1/\d\) in \d+\.\d s", t) for t in shown
    ), shown
    assert [out["output_type"] for out in run.outputs] == ["execute_result"]


def test_updates_respect_the_rate_cap(k: Kernel, server) -> None:
    for per_second in (20, 5):
        k.run(f"%config GLM.updates_per_second = {per_second}")
        run = glm(k, f"Rate cap at {per_second} [[delay=0.01]]")
        count = len(run.of_type("update_display_data"))
        span = run.times[-1] - run.times[0]
        chunks = server.records[-1].chunks_sent
        panes = len(run.of_type("display_data"))
        # One draw per pane at the start and the end are outside the cap.
        assert count <= per_second * span + 2 * panes + 2, (count, span)
        assert count < chunks / 2, (count, chunks)
    k.run("%config GLM.updates_per_second = 20")


def _display_bytes(run: CellRun) -> int:
    """Bytes of every display message the cell sent (JSON of the content, as on the wire)."""
    kinds = ("display_data", "update_display_data", "execute_result")
    return sum(len(json.dumps(content)) for kind, content in run.messages if kind in kinds)


@pytest.mark.parametrize("delay", [0.01, 0.0], ids=["model-pace", "fast"])
def test_the_live_view_costs_a_bounded_number_of_bytes_per_character(k: Kernel, delay) -> None:
    run = glm(k, f"[[huge=3000,delay={delay}]] Write", line="-o answer")
    assert run.error is None
    # A redraw re-sends its open pane: the byte budget, not the rate cap, keeps this bounded
    # at a model's pace (it was ~400 bytes per character with the rate cap alone).
    assert _display_bytes(run) / 3000 < 40, _display_bytes(run) / 3000
    live = [c for kind, c in run.messages if kind in ("display_data", "update_display_data")]
    styles = [c for c in live if style_tag() in (c.get("data") or {}).get("text/html", "")]
    assert len(styles) == 1 and styles[0]["data"]["text/plain"] == ""  # the stylesheet, once
    assert max(len((c.get("data") or {}).get("text/plain", "")) for c in live) < 200  # short text


def test_huge_answer_updates_stay_small(k: Kernel) -> None:
    run = glm(k, "[[huge=50000]] Write a lot", line="-o big")
    assert run.error is None
    sizes = [len(html) for _, html in updates(run)]
    assert len(sizes) > 10
    assert max(sizes) < 30_000, max(sizes)
    check = k.run("print(len(big.text), big.text.count('## Section'))")
    length, sections = map(int, check.stdout.split())
    assert length == 50_000 and sections > 100
    assert saved_text(run).count("## Section") == 0  # rendered once, as HTML headings
    # (more than OUTLINE_MAX_HEADINGS: kept out of JupyterLab's table of contents)
    assert (
        run.result is not None
        and run.result["text/html"].count('<h2 class="jp-toc-ignore">Section') == sections
    )


def test_result_is_the_reply(k: Kernel) -> None:
    run = glm(k, "Name three rivers", line="-o rivers")
    assert run.error is None
    check = k.run(
        "from glm_notebook import Reply\n"
        "n = len(Out) and max(Out)\n"
        "print(isinstance(_, Reply), _ is rivers, Out[n] is rivers, str(_) == rivers.text,"
        " rivers.text.startswith('## Name three rivers'))"
    )
    assert check.stdout.split() == ["True"] * 5, check.stdout


def test_quiet_shows_only_the_result(k: Kernel) -> None:
    run = glm(k, "Quiet please", line="--quiet")
    assert [kind for kind, _ in run.messages] == ["execute_result"]


def test_plain_text_when_displays_cannot_update(k: Kernel) -> None:
    run = k.run(
        "from IPython.utils.capture import capture_output\n"
        "with capture_output() as cap:\n"
        "    r = get_ipython().run_cell_magic('glm', '', 'Say hi in plain text')\n"
        "print(repr(r)); print(cap.stdout)"
    )
    assert run.error is None
    assert run.stdout.startswith("<Reply glm-4.6:")
    assert re.search(r"\nReasoning · \d+ words · [\d.]+ s\n\n## Say hi in plain text\n", run.stdout)
    assert re.search(r"\n\n— glm-4\.6 · [\d,]+ tokens · (\$[\d.]+ · )?[\d.]+ s\n", run.stdout)
    assert "<div" not in run.stdout


def test_display_text_streams_plain_text_in_a_kernel_too(k: Kernel) -> None:
    bad = k.run('%config GLM.display = "fancy"')
    assert "GLM.display must be one of auto, text, not 'fancy'" in bad.stderr
    k.run('%config GLM.display = "text"')
    try:
        run = glm(k, "Say hi in plain text")
    finally:
        k.run('%config GLM.display = "auto"')
    assert run.error is None
    assert [kind for kind, _ in run.messages if kind != "stream"] == ["execute_result"]
    assert "## Say hi in plain text" in run.stdout and "\n— glm-4.6 · " in run.stdout


def test_json_mode(k: Kernel) -> None:
    run = glm(k, "Describe this prompt", line="--json -o data")
    assert run.error is None
    assert '<code class="language-json">' in run.result["text/html"]
    assert k.run("print(data.json()['words'])").stdout.strip() == "3"


def test_system_prompt_and_options_reach_the_request(k: Kernel, server) -> None:
    k.run("animal = 'pirate'")
    run = glm(
        k,
        "Hello",
        line='-s "Answer like a {animal}" -m glm-4.5 -t 0.3 --top-p 0.9 --max-tokens 500 --no-thinking',
    )
    assert run.error is None
    body = server.records[-1].body
    assert body["model"] == "glm-4.5" and body["temperature"] == 0.3 and body["top_p"] == 0.9
    assert body["max_tokens"] == 500 and body["thinking"] == {"type": "disabled"}
    assert body["messages"][0] == {"role": "system", "content": "Answer like a pirate"}
    assert "System: Answer like a pirate" in visible(run.result["text/html"])
    assert "Reasoning" not in run.result["text/html"]


# -- conversations and interpolation ------------------------------------------------------------


def test_chat_carries_history(k: Kernel, server) -> None:
    k.run("%glm reset --all")
    first = glm(k, "Plan a day in Lisbon", line="-c trip")
    second = glm(k, "What about the evening?", line="-c trip")
    assert first.error is None and second.error is None
    assert 'This is turn 2 of our conversation; you first asked about "Plan a day in Lisbon"' in visible(
        second.result["text/html"]
    )
    assert [m["role"] for m in server.records[-1].body["messages"]] == ["user", "assistant", "user"]
    failed = glm(k, "Broken turn [[status=400,code=1214]]", line="-c trip")
    assert failed.error is not None
    history = k.run("%glm history trip").result["text/plain"]
    assert history.startswith("Conversation 'trip' · 2 turns")
    assert history.count("── user ") == 2 and history.count("── assistant ") == 2
    other = glm(k, "Separate topic", line="-c")  # the "default" conversation
    assert "turn 2" not in visible(other.result["text/html"])
    assert "Emptied 'trip'." in k.run("%glm reset trip").stdout


def test_interpolation(k: Kernel) -> None:
    k.run("topic = 'volcanoes'\nclass P:\n    name = 'Etna'\nplace = P()")
    # Directives go in the prompt; on the magic line they are an unknown option.
    assert "unrecognized arguments: [[echo]]" in usage_error(glm(k, "{topic}", line="[[echo]]"))
    run = glm(
        k, '[[echo]] About {topic} and {place.name}; {{topic}} {undefined} {"a": 1} { topic }', line="-o e"
    )
    assert run.error is None
    text = k.run("print(e.text)").stdout.strip()
    assert text == 'About volcanoes and Etna; {topic} {undefined} {"a": 1} { topic }'
    raw = glm(k, "[[echo]] {topic}", line="--no-interpolate -o raw")
    assert raw.error is None and k.run("print(raw.text)").stdout.strip() == "{topic}"
    typo = glm(k, "[[echo]] {place.nmae}")
    assert "UsageError" in typo.stderr + str(typo.error) and "{place.nmae}" in typo.stderr + str(typo.error)


# -- mistakes and failures ----------------------------------------------------------------------


def usage_error(run: CellRun) -> str:
    text = run.stderr + (str(run.error) if run.error else "")
    assert "UsageError" in text, run.messages
    return text


def test_usage_errors_are_one_line(k: Kernel) -> None:
    assert "unrecognized arguments: --bogus" in usage_error(glm(k, "hi", line="--bogus"))
    assert "needs a prompt" in usage_error(k.run("%%glm\n   \n"))
    assert "variable name" in usage_error(glm(k, "hi", line="-o 1x"))
    assert "not a %glm command" in usage_error(k.run("%glm what is this"))
    doc = k.run("print(get_ipython().find_cell_magic('glm').__doc__)").stdout
    for option in ("--model", "--system", "--temperature", "--top-p", "--max-tokens", "--no-thinking",
                   "--json", "--out", "--chat", "--quiet", "--no-interpolate"):  # fmt: skip
        assert option in doc


def test_api_error_is_one_line_without_display(k: Kernel) -> None:
    run = glm(k, "Fail [[status=401]]")
    line = one_line(run)
    assert run.error["ename"] == "AuthenticationError" and "HTTP 401" in line
    assert "Traceback" not in line
    assert not any(html_of(c) for kind, c in run.messages if kind == "display_data")


def test_broken_stream_keeps_the_partial_answer(k: Kernel) -> None:
    run = glm(k, "Break off [[cut=80]]", line="-o part")
    line = one_line(run)
    assert run.error["ename"] == "IncompleteStreamError" and "partial answer is kept" in line
    # the panes are replaced by the partial Reply, then the error line: nothing else stays
    assert [out["output_type"] for out in run.outputs] == ["display_data", "error"]
    footer = re.search(r'<p class="glm-footer">.*?</p>', run.outputs[0]["data"]["text/html"]).group(0)
    # the footer says "incomplete"; the sentence of what happened is said once, on the error line
    assert "⚠ incomplete" in footer and "⚠ incomplete</strong> ·" in footer
    sentence = run.error["evalue"]
    shown = run.outputs[0]["data"]
    assert sentence and sentence not in shown["text/html"]
    check = k.run("print(part.stopped, part.complete, len(part.text) > 0)")
    assert check.stdout.split() == ["error", "False", "True"]


def test_missing_key_says_how_to_set_it(k: Kernel) -> None:
    k.run("import os; _saved_key = os.environ.pop('ZAI_API_KEY')")
    try:
        run = glm(k, "hi")
        line = one_line(run)
        assert run.error["ename"] == "MissingAPIKeyError"
        assert "ZAI_API_KEY" in line and "%config GLM.api_key" in line
        assert not run.of_type("display_data")
    finally:
        k.run("os.environ['ZAI_API_KEY'] = _saved_key")
    assert glm(k, "Back again").error is None  # read again when the next cell runs


def test_config_never_shows_the_key(k: Kernel, server) -> None:
    secret = "sk-not-the-server-key-7f3a"
    k.run(f'%config GLM.api_key = "{secret}"\n%config GLM.model = "glm-4.5"')
    try:
        shown = k.run("%glm config").stdout + k.run("%config GLM").stdout
        value = k.run("%config GLM.api_key")
        assert secret not in shown + repr(value.messages)
        assert "…7f3a" in shown and value.result["text/plain"] == "'…7f3a'"
        assert "glm-4.5" in shown and server.base_url in shown
        rejected = glm(k, "hi")
        assert rejected.error["ename"] == "AuthenticationError"
    finally:
        k.run("%config GLM.api_key = None\n%config GLM.model = 'glm-4.6'")
    assert "[ZAI_API_KEY]" in k.run("%glm config").stdout


# -- interrupts ---------------------------------------------------------------------------------


def _interrupt(k: Kernel, body: str, ready) -> tuple[CellRun, float]:
    running = k.start(f"%%glm -o cut_short\n{body}")
    running.wait_for(ready, timeout=30)
    started = time.monotonic()
    k.interrupt()
    run = running.wait(timeout=30)
    return run, time.monotonic() - started


def _disconnected(server) -> bool:
    record = server.records[-1]
    record.finished.wait(10)
    return record.disconnected


def test_interrupt_while_streaming(k: Kernel, server) -> None:
    def answering(run: CellRun) -> bool:
        return any("<h2>" in html for _, html in updates(run))

    run, took = _interrupt(k, "Tell me a long story [[delay=0.05]]", answering)
    assert took < 10
    line = one_line(run)
    assert run.error["ename"] == "GLMInterrupted" and "KeyboardInterrupt" in line
    assert "partial answer" in line
    assert [out["output_type"] for out in run.outputs] == ["display_data", "error"]
    assert "⚠ interrupted" in run.outputs[0]["data"]["text/html"]
    check = k.run("print(cut_short.stopped, len(cut_short.text) > 0, cut_short.complete)")
    assert check.stdout.split() == ["interrupted", "True", "False"]
    assert _disconnected(server)


@pytest.mark.parametrize("directive", ["stall_headers=30", "stall=30,at=0"])
def test_interrupt_while_connecting(k: Kernel, server, directive: str) -> None:
    def waiting(run: CellRun) -> bool:
        return any("Waiting for" in html for _, html in updates(run))

    k.run("cut_short = None")
    run, took = _interrupt(k, f"Never mind [[{directive}]]", waiting)
    time.sleep(0.2)
    assert took < 10
    line = one_line(run)
    assert run.error["ename"] == "GLMInterrupted" and "before the answer started" in line
    assert [out["output_type"] for out in run.outputs] == ["error"]  # the waiting pane is gone
    assert _disconnected(server)


# -- hostile output -----------------------------------------------------------------------------


def test_hostile_output_is_never_sent_raw(k: Kernel) -> None:
    prompt = "\n\n".join(HOSTILE)
    run = glm(k, f"[[echo,delay=0.002]]\n{prompt}", line="-o evil")
    assert run.error is None
    htmls = [html_of(content) for _, content in run.messages if html_of(content)]
    assert len(htmls) > 3
    for html in htmls:
        assert len(OUR_STYLE.findall(html)) <= 1
        html = without_style(html).replace(COPY_BUTTON, "")  # our own constants
        assert_inert(html)  # MathML allowed: only allow-listed elements and attributes
        assert not re.search(r"<(img|script|svg|iframe|style|form|input)\b", html, re.I), html
    assert "&lt;img src=x onerror=alert(1)&gt;" in run.result["text/html"]
