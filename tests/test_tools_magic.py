"""`%%glm --tools` in a real kernel against the local server: calls shown live, then collapsed."""

from __future__ import annotations

from .kernel_harness import CellRun, Kernel, Running
from .test_magic import glm, html_of, updates

TOOLS = """
import time

def weather(location: str) -> str:
    "Current weather. location: the city"
    time.sleep(1.2)
    return f"18 °C, clear in {location}"

def broken(location: str) -> str:
    "Always fails. location: the city"
    raise ValueError("sensor offline")

not_a_function = 3
"""


def usage_error(run: CellRun) -> str:
    """IPython shows a `UsageError` as one line on stderr (no traceback)."""
    assert run.stderr.startswith("UsageError: ") and run.stderr.count("\n") == 1, run.messages
    return run.stderr


def define_tools(kernel: Kernel) -> None:
    run = kernel.run(TOOLS)
    assert run.error is None, run.error


def result_html(run: CellRun) -> str:
    results = [html_of(content) for kind, content in run.messages if kind == "execute_result"]
    assert len(results) == 1, run.messages
    return results[0]


def test_a_call_shows_running_then_collapses_into_the_result(k: Kernel) -> None:
    define_tools(k)
    run = glm(k, 'Weather in "Florence"? [[tool=weather]]', "--tools weather -o w")
    assert run.error is None, run.error
    live = [html for _, html in updates(run)]
    running = [i for i, html in enumerate(live) if 'class="glm-tool glm-tool-running"' in html]
    assert running, live
    assert "weather(location=" in live[running[0]]
    done = [i for i, html in enumerate(live) if 'class="glm-tool glm-tool-ok"' in html]
    assert done and done[-1] > running[0]
    final = result_html(run)
    assert '<details class="glm-tool glm-tool-ok">' in final
    assert "18 °C, clear in Florence" in final
    assert "1 tool call" in final
    assert 'class="glm-tool glm-tool-running"' not in final
    check = k.run("print(type(w).__name__, len(w.calls), w.calls[0].status)")
    assert check.stdout.strip() == "ToolReply 1 ok", check.messages


def test_a_failing_tool_is_shown_as_an_error(k: Kernel) -> None:
    define_tools(k)
    run = glm(k, 'Weather in "Florence"? [[tool=broken]]', "--tools broken")
    assert run.error is None, run.error
    final = result_html(run)
    assert 'class="glm-tool glm-tool-error"' in final
    assert "error: ValueError: sensor offline" in final
    assert "1 tool call (1 failed)" in final


def test_tools_that_are_missing_or_not_callable_are_one_line_errors(k: Kernel) -> None:
    define_tools(k)
    line = usage_error(glm(k, "hello", "--tools weather,nowhere"))
    assert "no function named 'nowhere'" in line
    line = usage_error(glm(k, "hello", "--tools not_a_function"))
    assert "'not_a_function' is a int, not a function" in line
    line = usage_error(glm(k, "hello", "--confirm"))
    assert "go with --tools" in line


def test_confirm_without_stdin_is_a_one_line_error(k: Kernel) -> None:
    define_tools(k)
    line = usage_error(glm(k, "hello [[tool=weather]]", "--tools weather --confirm"))
    assert "--confirm asks with input()" in line


def test_confirm_declined_over_stdin(k: Kernel) -> None:
    define_tools(k)
    code = '%%glm --tools weather --confirm -o w\nWeather in "Florence"? [[tool=weather]]'
    running = Running(k, k.client.execute(code, allow_stdin=True))
    request = k.client.get_stdin_msg(timeout=60)
    assert request["content"]["prompt"] == (
        'The model wants to call weather with:\n    location = "Florence"\nRun weather? [y/N] '
    )
    running.poll(3.6)  # the ticker redraws (silence > 3 s): the call is not running while we ask
    assert not any("running weather" in html for _, html in updates(running.run))
    k.client.input("n")
    run = running.wait()
    assert run.error is None, run.error
    final = result_html(run)
    assert 'class="glm-tool glm-tool-declined"' in final and "declined" in final
    assert "1 tool call (1 declined)" in final


def test_chat_keeps_the_tool_turns(k: Kernel) -> None:
    define_tools(k)
    k.run("%glm reset tooltalk")
    run = glm(k, 'Weather in "Florence"? [[tool=broken]]', "--tools broken -c tooltalk")
    assert run.error is None, run.error
    check = k.run("print([x['role'] for x in tooltalk.messages])")
    assert check.stdout.strip() == "['user', 'assistant', 'tool', 'assistant']", check.messages


def test_max_steps_stops_the_loop(k: Kernel) -> None:
    define_tools(k)
    run = glm(k, 'Weather in "Florence"? [[tool=broken]] [[tool_rounds=3]]', "--tools broken --max-steps 2")
    assert run.error is None, run.error
    final = result_html(run)
    assert "Stopped after 2 steps" in final


def test_interrupting_a_running_tool_keeps_what_happened(k: Kernel) -> None:
    k.run(
        "import time\ndef slow(location: str) -> str:\n    'Slow. location: the city'\n    time.sleep(30)\n    return 'late'"
    )
    running = k.start('%%glm --tools slow\nWeather in "Florence"? [[tool=slow]]')
    running.wait_for(lambda run: any('class="glm-tool glm-tool-running"' in html for _, html in updates(run)))
    k.interrupt()
    run = running.wait()
    assert run.error is not None and run.error["ename"] == "GLMInterrupted"
    assert len(run.error["traceback"]) == 1
    shown = [
        html_of(content) for kind, content in run.messages if kind == "display_data" and html_of(content)
    ]
    assert shown and "slow(location=" in shown[-1] and "error: interrupted" in shown[-1]


def test_the_terminal_prints_one_line_per_call(server) -> None:
    import io

    from glm_notebook.client import GLMClient
    from glm_notebook.notebook.display import run_stream
    from glm_notebook.notebook.terminal import TextSink

    def weather(location: str) -> str:
        """Current weather. location: the city"""
        return "18 °C, clear\x1b[2J"

    out = io.StringIO()
    client = GLMClient(server.api_key, server.base_url)
    reply, error = run_stream(
        client, 'Weather in "Florence"? [[tool=weather]]', {"tools": [weather]}, TextSink(out, styled=False)
    )
    text = out.getvalue()
    assert error is None and reply is not None
    assert '· weather(location="Florence") → 18 °C, clear\n' in text  # the escape sequence is gone
    assert text.rstrip().endswith("· 1 tool call")
    assert "\x1b" not in text


def test_panes_stay_few_however_many_steps(k: Kernel) -> None:
    define_tools(k)
    run = glm(k, 'Weather in "Florence"? [[tool=broken]] [[tool_rounds=4]]', "--tools broken")
    assert run.error is None, run.error
    panes = [content for kind, content in run.messages if kind == "display_data"]
    # the stylesheet, finished steps, reasoning, answer: reused by every step
    assert len(panes) <= 4, len(panes)
    live = [html for _, html in updates(run)]
    assert sum('class="glm-tool glm-tool-error"' in html for html in live) >= 4
    final = result_html(run)
    assert final.count('<details class="glm-tool glm-tool-error">') == 4
    assert "4 tool calls (4 failed)" in final


def test_quiet_and_capture_show_the_result_only_or_text(k: Kernel) -> None:
    define_tools(k)
    run = glm(k, 'Weather in "Florence"? [[tool=broken]]', "--tools broken --quiet")
    assert run.error is None and not [
        m for m, _ in run.messages if m in ("display_data", "update_display_data")
    ]
    assert "1 tool call (1 failed)" in result_html(run)
    run = k.run('%%capture out\n%%glm --tools broken\nWeather in "Florence"? [[tool=broken]]')
    assert run.error is None, run.error
    text = k.run("print(out.stdout)").stdout
    assert '· broken(location="Florence") → error: ValueError: sensor offline' in text
    assert "1 tool call (1 failed)" in text
