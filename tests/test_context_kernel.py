"""Notebook things in, code out, in a real kernel against the local server: `{df}` summaries,
`_repr_llm_`, capped values, `{In[n]}` / `{Out[n]}` / `{_}` / `{Err}`, `--code` (the
`set_next_input` payload), `%glm fix` after a real exception."""

from __future__ import annotations

import json
import os
import re
import sys

import pytest

from .kernel_harness import CellRun, Kernel, Running


@pytest.fixture(scope="module")
def k(kernel: Kernel) -> Kernel:
    run = kernel.run("%load_ext glm_notebook")
    assert run.error is None and not run.messages, run.messages
    return kernel


def sent(server) -> str:
    """The last user message the server received, without a leading `[[echo]] `."""
    return server.records[-1].body["messages"][-1]["content"].removeprefix("[[echo]] ")


def run_with_reply(k: Kernel, code: str) -> tuple[CellRun, dict]:
    """Run `code`; also return the execute_reply's content (where payloads travel)."""
    msg_id = k.client.execute(code, allow_stdin=False)
    run = Running(k, msg_id).wait()
    while True:
        reply = k.client.get_shell_msg(timeout=30)
        if reply["parent_header"].get("msg_id") == msg_id:
            return run, reply["content"]


def test_dataframe_is_sent_as_a_bounded_summary(k: Kernel, server) -> None:
    k.run("import pandas as pd\ndf = pd.DataFrame({'city': ['Lisbon', 'Porto'] * 500, 'n': range(1000)})")
    run = k.run("%%glm -o r\n[[echo]] Look at {df}")
    assert run.error is None, run.messages
    text = sent(server)
    assert text.startswith("Look at pandas DataFrame: 1,000 rows × 2 columns\nColumns (dtype): city (")
    assert "| 4 | Lisbon | 4 |\n| … | … | … |\n| 995 | Porto | 995 |" in text
    assert "| 500 |" not in text and len(text) < 1000
    full = k.run("%%glm\n[[echo]] {df!full}")
    assert full.error is None and "| 500 | Lisbon | 500 |" in sent(server)


def test_repr_llm_and_long_values_are_capped(k: Kernel, server) -> None:
    k.run("class Doc:\n    def _repr_llm_(self):\n        return 'a short summary'\n    def __str__(self):\n        return 'x' * 10**6\n"
          "doc = Doc()\nlong = 'y' * 50_000")  # fmt: skip
    assert k.run("%%glm\n[[echo]] {doc}").error is None
    assert sent(server) == "a short summary"
    assert k.run("%%glm\n[[echo]] {long}").error is None
    text = sent(server)
    assert text.endswith("[… cut after 20,000 of 50,000 characters; write {long!full} to send more]")
    assert k.run("%%glm\n[[echo]] {long!full}").error is None and sent(server) == "y" * 50_000


def test_history_fields(k: Kernel, server) -> None:
    first = k.run("40 + 2")
    count = first.of_type("execute_result")[0]["execution_count"]
    assert k.run(f"%%glm\n[[echo]] code {{In[{count}]}} gave {{Out[{count}]}}").error is None
    assert sent(server) == "code 40 + 2 gave 42"
    k.run("'last value'")
    assert k.run("%%glm\n[[echo]] {_}").error is None and sent(server) == "last value"
    missing = k.run("%%glm\n[[echo]] {Out[9999]}")
    assert (
        "UsageError" in missing.stderr + str(missing.error)
        and "{Out[9999]}: cell 9999 left no result in Out" in missing.stderr
    )


def test_err_holds_the_last_exception_as_plain_text(k: Kernel, server) -> None:
    k.run("%colors Linux")  # coloured tracebacks in the kernel: none of it may reach the prompt
    failed = k.run("import json\ndef parse(s):\n    return json.loads(s)\nraw = '{bad'\nparse(raw)")
    assert failed.error is not None and failed.error["ename"] == "JSONDecodeError"
    assert k.run("%%glm\n[[echo]] {Err}").error is None
    text = sent(server)
    assert "\x1b" not in text
    assert text.startswith("In [") and "parse(raw)\n```" in text
    assert 'File "cell", line 5, in <module>\n    parse(raw)' in text
    assert "frame(s) in library code left out" in text
    assert text.rstrip("`\n").endswith(
        "json.decoder.JSONDecodeError: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
    )
    cell = int(text[len("In [") : text.index("]")])
    assert k.run(f"%%glm\n[[echo]] {{Err[{cell}]}}").error is None and sent(server) == text


def notes(run) -> str:
    """The notes under the cell's result (the live view's replacement), as text."""
    import re

    [result] = run.of_type("execute_result")
    return "\n".join(re.findall(r'<p class="glm-note">(.*?)</p>', result["data"]["text/html"]))


def note(run, text: str) -> bool:
    """The final view of the cell's result carries `text` as a note (nothing printed between the
    live view and the result, so the swap stays one step)."""
    [result] = run.of_type("execute_result")
    return run.stdout == "" and f'<p class="glm-note">{text}</p>' in result["data"]["text/html"]


def test_code_goes_into_a_new_cell(k: Kernel) -> None:
    run, reply = run_with_reply(k, "%%glm --code -o answer\nWrite a word counter")
    assert run.error is None, run.messages
    assert note(run, "code inserted below")
    [payload] = reply["payload"]
    assert payload["source"] == "set_next_input" and payload["replace"] is False
    assert payload["text"].startswith("def answer_write_a_word(text: str) -> int:")
    assert "```" not in payload["text"]
    assert k.run("print(answer.code == " + repr(payload["text"]) + ")").stdout == "True\n"
    run, reply = run_with_reply(k, "%%glm -f code --code replace\nWrite a word counter")
    assert note(run, "code replaced this cell") and reply["payload"][0]["replace"] is True
    run, reply = run_with_reply(k, "%%glm --code\n[[echo]] no code here")
    assert note(run, "no code block in the answer: nothing inserted") and reply["payload"] == []


def test_glm_fix_after_a_real_exception(k: Kernel, server) -> None:
    k.run("%glm reset --all")
    k.run("items = [3, 1, 2]\ntotal = 0")
    k.run("mean = sum(items) / total")
    run, reply = run_with_reply(k, "%glm fix please keep it short")
    assert run.error is None, run.messages
    text = sent(server)
    assert text.startswith("This notebook cell failed. Explain the cause")
    assert "mean = sum(items) / total\n```" in text and "ZeroDivisionError: division by zero" in text
    assert (
        "Values used on the failing line `mean = sum(items) / total`:\n- items = [3, 1, 2] (list)\n- total = 0 (int)"
        in text
    )
    assert text.endswith("please keep it short")
    assert run.result is not None  # the answer streams and stays as the result
    cell = int(re.search(r"In \[(\d+)\]", text).group(1))
    assert note(run, f"sent In [{cell}], its ZeroDivisionError traceback and the values of items, total")
    chat = k.run("%%glm -c debug\n[[echo]] hello")
    assert chat.error is None
    k.run("1 / 0")
    run, reply = run_with_reply(k, "%%glm --fix --code\nUse a guard.")
    assert run.error is None and note(run, "code inserted below")
    assert [m["role"] for m in server.records[-1].body["messages"]] == ["user", "assistant", "user"]
    assert reply["payload"][0]["source"] == "set_next_input"


def test_fix_without_an_error_says_so() -> None:
    fresh = Kernel(dict(os.environ))
    try:
        fresh.run("%load_ext glm_notebook")
        run = fresh.run("%glm fix")
        assert (
            run.error is None
            and run.stdout
            == "Nothing to fix: no cell has raised an exception since %load_ext glm_notebook.\n"
        )
        err = fresh.run("%%glm\n{Err}")
        assert "{Err}: no cell has raised an exception yet" in err.stderr
    finally:
        fresh.shutdown()


# -- images -----------------------------------------------------------------------------------


def image_urls(server) -> list[str]:
    content = server.records[-1].body["messages"][-1]["content"]
    return [part["image_url"]["url"] for part in content if part["type"] == "image_url"]


def test_figure_becomes_an_image_part_in_place_and_never_base64_in_the_notebook(k: Kernel, server) -> None:
    setup = k.run(
        "import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(4, 3), dpi=50)\nax.plot([1, 3, 2]);"
    )
    assert setup.error is None, setup.messages
    run = k.run("%%glm -m glm-4.6v -o seen\nWhat does {fig} show? Be brief.")
    assert run.error is None, run.messages
    content = server.records[-1].body["messages"][-1]["content"]
    assert [p["type"] for p in content] == ["text", "image_url", "text"]
    assert content[0]["text"] == "What does " and content[2]["text"] == " show? Be brief."
    url = content[1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    text = k.run("print(seen.text)").stdout
    assert text.startswith("I see 1 image(s):\n\n- Image 1: PNG, ")
    placeholder = notes(run).strip().removeprefix("note: sent with ")
    assert placeholder.startswith("[image ") and placeholder.endswith(" PNG]") and placeholder[7:-5] in text
    blob = url.split(",", 1)[1]
    assert blob[100:200] not in repr(run.outputs) and len(repr(run.outputs)) < 60_000


def test_pil_image_path_and_plot_options(k: Kernel, server, tmp_path) -> None:
    path = tmp_path / "dot.png"
    assert (
        k.run("import matplotlib.pyplot as plt\nplt.figure(figsize=(2, 2), dpi=50)\nplt.plot([0, 1]);").error
        is None
    )
    k.run(f"from PIL import Image\nimg = Image.new('RGB', (64, 32), 'red')\nimg.save({str(path)!r})")
    run = k.run(f"%%glm -m glm-4.5v --image {path} --plot\nCompare {{img}} with these")
    assert run.error is None, run.messages
    content = server.records[-1].body["messages"][-1]["content"]
    assert [p["type"] for p in content] == ["text", "image_url", "text", "image_url", "image_url"]
    assert "[image 64×32 PNG] [image 64×32 PNG] [image " in notes(run)
    missing = k.run(f"%%glm -m glm-4.5v --image {tmp_path / 'nope.png'}\nLook")
    assert "UsageError" in missing.stderr and "--image" in missing.stderr and "cannot read" in missing.stderr


def test_big_image_is_downscaled_and_says_so(k: Kernel, server) -> None:
    k.run("import numpy as np\nwide = np.zeros((50, 7000, 3), dtype=np.uint8)")
    run = k.run("%%glm -m glm-4.6v\nDescribe {wide}")
    assert run.error is None, run.messages
    assert "note: image downscaled from 7000×50 to 6000×43 to fit the service's limits" in notes(run)
    assert server.records[-1].status == 200 and len(image_urls(server)) == 1


def test_text_model_with_an_image_is_one_line_naming_a_vision_model(k: Kernel, server) -> None:
    before = len(server.records)
    run = k.run("%%glm -m glm-4.6\nWhat is {img}?")
    assert (
        run.error is None
        and "UsageError: glm-4.6 cannot see images: ask a vision model, e.g. %%glm -m glm-4.6v" in run.stderr
    )
    assert run.stderr.count("\n") == 1 and len(server.records) == before


def test_conversation_history_shows_placeholders(k: Kernel) -> None:
    k.run("%glm reset looks\nfrom PIL import Image\nimg = Image.new('RGB', (64, 32), 'red')")
    assert k.run("%%glm -m glm-4.6v -c looks\nWhat is {img}?").error is None
    history = k.run("%glm history looks")
    shown = repr(history.outputs)
    assert "What is [image 64×32 PNG]?" in shown
    # the image itself (sent as PNG) is never in the output: only our small JPEG thumbnail of it
    assert "image/png;base64" not in shown and shown.count(";base64,") == 1
    assert 'src="data:image/jpeg;base64,' in shown and len(shown) < 40_000


def test_err_of_a_syntax_error_and_of_a_function_called_by_the_cell(k: Kernel, server) -> None:
    k.run("def broken(:\n    pass")
    assert k.run("%%glm\n[[echo]] {Err}").error is None
    text = sent(server)
    assert "def broken(:" in text and "SyntaxError: " in text and "\x1b" not in text
    k.run("def halve(values):\n    return [v / 2 for v in values]\n\ndata = [4, 'x']\nhalf = halve(data)")
    k.run("%glm fix")
    text = sent(server)
    assert "TypeError: unsupported operand type(s) for /: 'str' and 'int'" in text
    assert 'File "cell", line 5, in <module>\n    half = halve(data)' in text
    assert 'File "cell", line 2, in <listcomp>' in text or 'File "cell", line 2, in halve' in text
    used = "Values used on the failing line `return [v / 2 for v in values]`:\n"
    if sys.version_info < (3, 12):  # the comprehension's own frame still holds `v`
        assert used + "- v = 'x' (str)\n- values = [4, 'x'] (list)" in text
    else:  # PEP 709 inlines comprehensions: `v` is gone from the frame once the error left it
        assert used + "- values = [4, 'x'] (list)" in text


def test_code_is_shown_to_copy_where_cells_cannot_be_inserted() -> None:
    vscode = Kernel({**os.environ, "VSCODE_PID": "4242"})
    try:
        assert vscode.run("%load_ext glm_notebook").error is None
        run, reply = run_with_reply(vscode, "%%glm --code\nWrite a word counter")
        assert run.error is None and reply["payload"] == []
        assert note(run, "this front end cannot insert cells: copy the code above (also in reply.code)")
        [block] = [
            c
            for c in run.of_type("display_data")
            if "text/html" in c["data"] and "glm-code" in c["data"]["text/html"]
        ]
        assert block["data"]["text/plain"].startswith("def answer_write_a_word(text: str) -> int:")
        assert (
            '<div class="glm-code" data-lang="python" style="border:1px solid #8886;border-radius:6px">'
            in block["data"]["text/html"]
        )
    finally:
        vscode.shutdown()


def test_the_key_never_leaves_through_fix_or_tool_results(k: Kernel, server, tmp_path) -> None:
    """The key inside an exception (for `%glm fix`), a tool's result and a tool's error: never
    sent, never recorded, never in the saved output (`[API key hidden]` instead)."""
    key = server.api_key
    recordings = tmp_path / "leak.glm.jsonl"
    k.run("%glm reset --all")  # %glm fix continues the active conversation: start clean
    k.run(f"%config GLM.replay_path = {str(recordings)!r}\n%glm replay record")
    k.run("import os\ndef connect():\n    raise RuntimeError('bad token ' + os.environ['ZAI_API_KEY'])")
    k.run("connect()")
    before = len(server.records)
    fixed = k.run("%glm fix")
    assert fixed.error is None, fixed.messages
    k.run(
        "def secret(what: str) -> str:\n    '''Look something up. what: the thing'''\n"
        "    return 'token=' + os.environ['ZAI_API_KEY']\n"
        "def broken(what: str) -> str:\n    '''Look something up. what: the thing'''\n"
        "    raise ValueError('key ' + os.environ['ZAI_API_KEY'])"
    )
    tools = k.run("%%glm --tools secret,broken\n[[tool=secret]] [[tool=broken]] look it up")
    assert tools.error is None, tools.messages
    k.run("%glm replay off")
    sent = [json.dumps(r.body) for r in server.records[before:]]
    assert len(sent) >= 3 and not [s for s in sent if key in s], "the key was sent"
    assert any("[API key hidden]" in s for s in sent)
    assert key not in recordings.read_text(), "the key was recorded"
    shown = json.dumps([fixed.outputs, tools.outputs, fixed.messages, tools.messages])
    at = shown.find(key)
    assert at < 0, f"the key is in what the notebook shows and saves: {shown[max(0, at - 300) : at + 40]!r}"
