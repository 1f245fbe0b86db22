"""The `%%glm` cell magic and the `%glm` line magic.

```
%load_ext glm_notebook

%%glm -t 0.3 -o haiku
Write a haiku about {topic}
```

The answer streams into the cell's output, rendered, then stays as the cell's result
(`Out[n]`, `_`, and `haiku` with `-o`): a `Reply`, whose `str()` is the answer text.

Settings are traitlets on the `GLM` configurable:

```
%config GLM.model = "glm-4.6"            # in a notebook
c.GLM.model = "glm-4.6"                  # in ipython_config.py
%config GLM                              # list them with their current values
%glm config                              # the effective settings, key masked
```

`ZAI_API_KEY` / `ZAI_BASE_URL` are read each time a cell runs, so setting them after
`%load_ext` works. `%glm history [NAME]` and `%glm reset [NAME | --all]` manage the
conversations continued with `%%glm -c NAME`.
"""

from __future__ import annotations

import keyword
import os
import shlex
import sys
from collections import ChainMap
from typing import Any

import httpx
from IPython import get_ipython
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import clear_output
from traitlets import Bool, Dict, Float, Int, TraitError, Unicode, observe, validate
from traitlets.config import Configurable

from .. import hooks
from ..client import GLMClient
from ..client.config import (
    API_KEY_ENV,
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MODEL,
    DISPLAY_ENV,
    mask_key,
    resolve_api_key,
    resolve_base_url,
)
from ..client.content import VISION_MODEL, image_placeholder, is_vision_model, vision_error
from ..client.conversation import Chat
from ..client.glm import default_client
from ..client.interpolate import (
    KEY_MASK,
    InterpolationError,
    interpolate_prompt,
    mask_secret,
    message_content,
)
from ..client.models import checked_aliases, resolve_alias
from ..client.replay import MODES as REPLAY_MODES
from ..client.replay import PACES as REPLAY_PACES
from ..errors import MissingAPIKeyError
from ..render.live import DEFAULT_UPDATES_PER_SECOND
from ..render.reply_view import MAX_DISPLAY_CHARS, set_max_display_chars
from ..results.cost import set_prices
from ..results.ledger import LEDGER
from ..wire.web_search import RECENCY, web_search_tool
from .code_out import CODE_MODES, send_code
from .context import (
    FigureTracker,
    attached_images,
    fix_note,
    fix_prompt,
    install_error_log,
    uninstall_error_log,
)
from .conversations import DEFAULT_CONVERSATION, Conversations
from .display import LiveSink, QuietSink, Sink, run_stream, supports_live_display
from .replay_magic import replay_command, replay_for, replay_state
from .terminal import TextSink

__all__ = ["GLM", "GLMMagics", "load_ipython_extension", "notebook_client", "unload_ipython_extension"]

_CONNECT_TIMEOUT = 10.0
DISPLAY_MODES = ("auto", "text")


class _MaskedStr(str):
    """A string whose repr shows only its last four characters (for the API key)."""

    def __repr__(self) -> str:
        return repr(mask_key(str(self)))


class _Secret(Unicode):
    """A `Unicode` trait whose value never shows unmasked in `%config` or a repr."""

    def validate(self, obj: Any, value: Any) -> Any:
        value = super().validate(obj, value)
        return value if value is None else _MaskedStr(value)


class GLM(Configurable):
    """Settings of the `%%glm` magic: `%config GLM.<name> = value` or `c.GLM.<name>`.

    Options given on a `%%glm` line override these for that cell.
    """

    api_key = _Secret(
        None,
        allow_none=True,
        help=f"Z.ai API key. Default: the {API_KEY_ENV} environment variable, read when a cell "
        "runs. Never shown unmasked; prefer the environment variable, which stays out of the notebook.",
    ).tag(config=True)
    base_url = Unicode(
        None,
        allow_none=True,
        help=f"API base URL. Default: {BASE_URL_ENV}, else {DEFAULT_BASE_URL}.",
    ).tag(config=True)
    model = Unicode(DEFAULT_MODEL, help="Model name (-m overrides).").tag(config=True)
    thinking = Bool(
        True,
        allow_none=True,
        help="Let the model reason before answering (shown collapsed). None: the model's default.",
    ).tag(config=True)
    clear_thinking = Bool(
        None,
        allow_none=True,
        help="False: preserved thinking (every turn's reasoning goes back to the model, as the "
        "service documents for clear_thinking). None: the service's default.",
    ).tag(config=True)
    reasoning_effort = Unicode(
        None, allow_none=True, help="How hard a model that takes it reasons: low, high or max (-e)."
    ).tag(config=True)
    web_search = Bool(False, help="Search the web for every cell and cite the sources (--web).").tag(
        config=True
    )
    web_recent = Unicode(
        None, allow_none=True, help=f"Web search recency, one of {', '.join(RECENCY)} (--web-recent)."
    ).tag(config=True)
    web_count = Int(None, allow_none=True, help="Sources per web search, 1 to 50 (--web-count).").tag(
        config=True
    )
    web_domain = Unicode(None, allow_none=True, help="Web search only this site (--web-domain).").tag(
        config=True
    )
    temperature = Float(
        None, allow_none=True, help="Sampling temperature (-t); None: the model's default."
    ).tag(config=True)
    top_p = Float(None, allow_none=True, help="Nucleus sampling (--top-p); None: default.").tag(config=True)
    max_tokens = Int(
        None, allow_none=True, help="Longest answer in tokens (--max-tokens); None: default."
    ).tag(config=True)
    system = Unicode(None, allow_none=True, help="System prompt sent with every cell (-s overrides).").tag(
        config=True
    )
    max_history = Int(
        None,
        allow_none=True,
        help="Turns of a %%glm -c conversation sent with each new question (the system prompt "
        "always goes); None: all. Applies to conversations started after it is set.",
    ).tag(config=True)
    aliases = Dict(
        {},
        help="Short names for models, e.g. {'fast': 'glm-4.5-air'}: -m fast (and %config GLM.model) "
        "then send glm-4.5-air.",
    ).tag(config=True)
    prices = Dict(
        {},
        help="Prices that override the built-in table: {model: (input, cached_input, output)} in "
        "USD per million tokens. Used for every cost shown (footers, Chat.cost, %glm usage).",
    ).tag(config=True)
    display = Unicode(
        "auto",
        help="How answers stream: auto (in place where the frontend can update a display, plain "
        "text elsewhere) or text (plain text always: logs of nbconvert/papermill runs, the demo). "
        f"{DISPLAY_ENV} in the environment wins.",
    ).tag(config=True)
    updates_per_second = Float(
        DEFAULT_UPDATES_PER_SECOND,
        help="Most redraws per second while an answer streams; 0 draws only the first state "
        "(then the result).",
    ).tag(config=True)
    max_display_chars = Int(
        MAX_DISPLAY_CHARS,
        allow_none=True,
        help="Longest answer (and reasoning) shown whole, in characters. Past it the live view "
        "stops growing and the result shows the beginning and the end with a note; str(reply) "
        "always holds everything. None: no limit (a multi-megabyte answer can freeze the browser).",
    ).tag(config=True)
    timeout = Float(
        120.0,
        help="Seconds the stream may stay silent before the cell gives up "
        f"(connecting gives up after at most {_CONNECT_TIMEOUT:g} s).",
    ).tag(config=True)
    max_retries = Int(
        DEFAULT_MAX_RETRIES,
        help="Retries of connection failures and 'busy' errors, only before any text arrived.",
    ).tag(config=True)

    replay = Unicode(
        "off",
        help="Record and replay answers: off, auto (on), record, replay. GLM_REPLAY in the "
        "environment wins (CI: GLM_REPLAY=replay). Also: %glm replay on|status|prune.",
    ).tag(config=True)
    replay_path = Unicode(
        None,
        allow_none=True,
        help="The recordings file. Default: GLM_REPLAY_PATH, else the notebook's name with "
        ".glm.jsonl beside it.",
    ).tag(config=True)
    replay_pace = Unicode(
        "auto",
        help="How a replayed answer streams: recorded (its pace), instant, or auto (recorded where "
        "a frontend shows the notebook, instant under nbclient, nbconvert, papermill or nbval).",
    ).tag(config=True)

    def connection(self) -> tuple[Any, ...]:
        """What a client depends on: key and base URL (settings, else environment), limits,
        replay mode and file."""
        return (
            resolve_api_key(self.api_key),
            resolve_base_url(self.base_url),
            self.model,
            self.timeout,
            self.max_retries,
            tuple(sorted(self.aliases.items())),
            replay_state(self, self.parent),
        )

    def client(self) -> GLMClient:
        """A `GLMClient` for these settings (the environment fills in key and base URL)."""
        api_key, base_url, model, timeout, max_retries, aliases, _ = self.connection()
        return GLMClient(
            api_key,
            base_url,
            model=model,
            timeout=httpx.Timeout(timeout, connect=min(_CONNECT_TIMEOUT, timeout)),
            max_retries=max_retries,
            replay=replay_for(self, self.parent),
            aliases=dict(aliases),
        )

    @classmethod
    def of(cls, shell: Any) -> GLM | None:
        """The settings registered on `shell` by `%load_ext glm_notebook`, if any."""
        return next((c for c in getattr(shell, "configurables", ()) if isinstance(c, cls)), None)

    @validate("temperature", "top_p")
    def _check_sampling(self, proposal: Any) -> Any:
        value = proposal["value"]
        if value is not None and not 0.0 <= value <= 2.0:
            raise TraitError(f"GLM.{proposal['trait'].name} must be between 0 and 2, not {value}")
        return value

    @validate("max_tokens", "max_retries")
    def _check_count(self, proposal: Any) -> Any:
        value = proposal["value"]
        low = 1 if proposal["trait"].name == "max_tokens" else 0
        if value is not None and value < low:
            raise TraitError(f"GLM.{proposal['trait'].name} must be at least {low}, not {value}")
        return value

    @validate("replay", "replay_pace")
    def _check_replay(self, proposal: Any) -> Any:
        value, name = str(proposal["value"]).strip().lower(), proposal["trait"].name
        allowed = ("on", *REPLAY_MODES) if name == "replay" else ("auto", *REPLAY_PACES)
        if value not in allowed:
            raise TraitError(f"GLM.{name} must be one of {', '.join(allowed)}, not {proposal['value']!r}")
        return "auto" if value == "on" else value

    @validate("display")
    def _check_display(self, proposal: Any) -> Any:
        value = str(proposal["value"]).strip().lower()
        if value not in DISPLAY_MODES:
            raise TraitError(
                f"GLM.display must be one of {', '.join(DISPLAY_MODES)}, not {proposal['value']!r}"
            )
        return value

    @validate("max_history")
    def _check_history(self, proposal: Any) -> Any:
        value = proposal["value"]
        if value is not None and value < 0:
            raise TraitError(f"GLM.max_history must be 0 or more (or None), not {value}")
        return value

    @validate("aliases")
    def _check_aliases(self, proposal: Any) -> Any:
        try:
            return checked_aliases(proposal["value"])
        except ValueError as exc:
            raise TraitError(f"GLM.aliases: {exc}") from None

    @validate("prices")
    def _check_prices(self, proposal: Any) -> Any:
        try:
            set_prices(proposal["value"])
        except ValueError as exc:
            raise TraitError(f"GLM.prices: {exc}") from None
        return proposal["value"]

    @validate("max_display_chars")
    def _check_display_chars(self, proposal: Any) -> Any:
        value = proposal["value"]
        if value is not None and value < 1_000:
            raise TraitError(f"GLM.max_display_chars must be at least 1000 (or None), not {value}")
        return value

    @observe("max_display_chars")
    def _display_chars_changed(self, change: Any) -> None:
        set_max_display_chars(change["new"])

    @validate("timeout", "updates_per_second")
    def _check_positive(self, proposal: Any) -> Any:
        value = proposal["value"]
        if value < 0 or (proposal["trait"].name == "timeout" and value == 0):
            raise TraitError(f"GLM.{proposal['trait'].name} must be positive, not {value}")
        return value


def answer_sink(shell: Any, settings: GLM | None, model: str, *, language: str | None = None) -> Sink:
    """Where an answer streams: live panes in a Jupyter kernel (the settings' redraw rate and
    display limit; defaults without the extension), plain text elsewhere or when asked for
    (`GLM_DISPLAY=text`, `%config GLM.display = "text"`)."""
    mode = os.environ.get(DISPLAY_ENV, "").strip().lower() or (settings.display if settings else "auto")
    if mode == "text" or not supports_live_display(shell):
        return TextSink()
    return LiveSink(
        updates_per_second=settings.updates_per_second if settings else DEFAULT_UPDATES_PER_SECOND,
        language=language,
        waiting=f"Waiting for {model}…",
        max_chars=settings.max_display_chars if settings else MAX_DISPLAY_CHARS,
    )


def _parse(magic: Any, line: str) -> Any:
    """Options of a magic line, split like a shell does (IPython's own splitting keeps the
    quotes, so `-s "Be brief"` would send the quotes along)."""
    try:
        argv = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"%%glm options: {exc}") from None
    return magic.parser.parse_args(argv)


def _first(*values: Any) -> Any:
    return next((value for value in values if value is not None), None)


@magics_class
class GLMMagics(Magics):
    """`%%glm` (ask a model, stream the answer) and `%glm` (settings, conversations)."""

    shell: InteractiveShell  # always given: the magics are registered on a shell

    def __init__(self, shell: Any, settings: GLM | None = None) -> None:
        super().__init__(shell)
        self.settings = settings if settings is not None else GLM(parent=shell)
        self.conversations = Conversations(shell.user_ns)
        self.errors = install_error_log(shell)
        self.figures = FigureTracker.install(shell)
        self._active_chat: str | None = None
        self._client: GLMClient | None = None
        self._client_settings: tuple[Any, ...] | None = None

    # -- %%glm --------------------------------------------------------------------------------

    @no_var_expand
    @magic_arguments("%glm")  # usage line reads `%%glm ...`
    @argument("-m", "--model", default=None, help="Model name (default: GLM.model).")
    @argument("-s", "--system", default=None, help="System prompt for this cell.")
    @argument("-t", "--temperature", type=float, default=None, help="Sampling temperature.")
    @argument("--top-p", dest="top_p", type=float, default=None, help="Nucleus sampling.")
    @argument("--max-tokens", dest="max_tokens", type=int, default=None, help="Longest answer.")
    @argument(
        "--thinking", dest="thinking", action="store_const", const=True, default=None,
        help="Let the model reason first (shown collapsed).",
    )  # fmt: skip
    @argument(
        "--no-thinking", dest="thinking", action="store_const", const=False, default=None,
        help="Answer without reasoning first.",
    )  # fmt: skip
    @argument(
        "-e", "--effort", dest="reasoning_effort", choices=("low", "high", "max"), default=None,
        help="Reasoning effort, for the models that take it (GLM.reasoning_effort).",
    )  # fmt: skip
    @argument(
        "--web", dest="web", action="store_const", const=True, default=None,
        help="Search the web first; the answer cites its sources, listed under it.",
    )  # fmt: skip
    @argument("--no-web", dest="web", action="store_const", const=False, default=None, help="No web search.")
    @argument(
        "--web-recent", dest="web_recent", choices=RECENCY, default=None, metavar="WHEN",
        help=f"With --web: only results from {', '.join(RECENCY)}.",
    )  # fmt: skip
    @argument(
        "--web-count",
        dest="web_count",
        type=int,
        default=None,
        metavar="N",
        help="With --web: N sources (1-50).",
    )
    @argument(
        "--web-domain", dest="web_domain", default=None, metavar="DOMAIN",
        help="With --web: only results from DOMAIN.",
    )  # fmt: skip
    @argument(
        "--json", action="store_true",
        help="Ask for a JSON object (response_format json_object); reply.json() parses it.",
    )  # fmt: skip
    @argument("-o", "--out", default=None, metavar="NAME", help="Also store the Reply in NAME.")
    @argument(
        "-c", "--chat", nargs="?", const=DEFAULT_CONVERSATION, default=None, metavar="NAME",
        help=f"Continue conversation NAME (default {DEFAULT_CONVERSATION!r}) across cells.",
    )  # fmt: skip
    @argument("--quiet", action="store_true", help="No live display; show only the result.")
    @argument(
        "--image", action="append", metavar="PATH",
        help="Send the PNG/JPEG file PATH after the prompt (repeatable; for vision models).",
    )  # fmt: skip
    @argument("--plot", action="store_true", help="Send the current matplotlib figure after the prompt.")
    @argument(
        "--code", nargs="?", const="below", default=None, choices=CODE_MODES,
        help="Put the answer's code into a new cell below (--code replace: into this cell).",
    )  # fmt: skip
    @argument("-f", "--format", choices=("text", "code"), default=None, help="-f code is --code.")
    @argument(
        "--fix", action="store_true",
        help="Send the last error (cell, traceback, values) and ask for a corrected cell; "
        "the cell body adds your own words.",
    )  # fmt: skip
    @argument(
        "--no-interpolate", dest="interpolate", action="store_false",
        help="Send the cell exactly as written (no {name} substitution).",
    )  # fmt: skip
    @argument(
        "--map", dest="map_over", default=None, metavar="VAR",
        help="The cell is a template run over each item of VAR (list, Series, DataFrame: "
        "{item} / {column}); the result is a MapResults.",
    )  # fmt: skip
    @argument("--concurrency", type=int, default=None, help="Requests in flight with --map (8).")
    @argument(
        "--max-cost", dest="max_cost", type=float, default=None, metavar="USD",
        help="With --map: refuse a run estimated above USD, and stop sending when it is reached.",
    )  # fmt: skip
    @argument(
        "--tools", default=None, metavar="NAME[,NAME…]",
        help="Let the model call these notebook functions (comma-separated names); each call "
        "shows while it runs, the result is a ToolReply.",
    )  # fmt: skip
    @argument("--confirm", action="store_true", help="With --tools: ask (y/n) before each call.")
    @argument(
        "--max-steps", dest="max_steps", type=int, default=None, metavar="N",
        help="With --tools: at most N requests to the model (default 10).",
    )  # fmt: skip
    @cell_magic("glm")  # type: ignore[arg-type]  # IPython types the decorator's argument as Never
    def glm_cell(self, line: str, cell: str) -> Any:
        """Ask a GLM model; the answer streams into the output and becomes the cell's result.

        The cell body is the prompt. `{name}` and `{name.attr}` are replaced by notebook
        variables: `str()` capped, a DataFrame's shape, dtypes and first/last rows, an object's
        `_repr_llm_()`; `{name!full}` sends all of it. `{In[3]}`, `{Out[3]}`, `{_}`, `{Err}`,
        `{Err[7]}`: cells' code and results, the last (cell 7's) exception. An image (Figure,
        PIL Image, NumPy image, PNG/JPEG bytes or Path) is sent as an image, in place, to vision
        models (-m glm-4.6v). `{{name}}` gives literal braces; anything else in braces (code,
        JSON, undefined names) is sent as written, an undefined `{name}` with a one-line note.
        `--code` puts the answer's code in a new cell; `--fix` / `%glm fix` ask to fix the last error.
        Your API key is never sent: wherever it would appear, "[API key hidden]" goes instead. The result is a `Reply`: `str(reply)` is the
        answer, `reply.reasoning`, `reply.usage`, `reply.json()` the rest. Ctrl-C / the stop
        button ends the request and keeps the partial answer.

        `--tools weather,convert_units` lets the model call those notebook functions: each call
        shows while it runs, then collapses to `weather(location="Florence") → 18 °C`; the result
        is then a `ToolReply` (`.calls`, `.steps`). `--confirm` asks y/n before each call,
        `--max-steps N` caps the requests (10).

        Settings: `%config GLM` (model, thinking, temperature, ...); `%glm config` shows them.
        """
        args = _parse(self.glm_cell, line)
        tool_params = self._tool_params(args)
        if args.map_over is not None:
            if tool_params:
                raise UsageError("--map runs independent prompts; it cannot use --tools")
            return self._map_cell(args, cell)
        error_record = self.errors.last() if args.fix else None
        if args.fix:
            if error_record is None:
                print("Nothing to fix: no cell has raised an exception since %load_ext glm_notebook.")
                return None
            args.chat = args.chat or self._active_chat
        prompt, system, notes = self._prompt(args, cell)
        if error_record is not None:
            prompt = (
                fix_prompt(error_record, prompt) if isinstance(prompt, str)
                else [{"type": "text", "text": fix_prompt(error_record)}, *prompt]
            )  # fmt: skip
            notes.append(fix_note(error_record))
        model = args.model or self.settings.model
        if not isinstance(prompt, str) and not is_vision_model(model):
            raise UsageError(vision_error(model, f"%%glm -m {VISION_MODEL}"))
        if args.chat and args.out == args.chat:
            raise UsageError(
                f"-o {args.out}: the conversation -c {args.chat} is kept in {args.chat!r}; pick another -o name"
            )
        conversation = self.conversations.get(args.chat, self._new_chat) if args.chat else None
        if conversation is not None:
            if args.system is not None:  # -s on a -c cell sets the conversation's system prompt
                conversation.system = system
            messages: Any = conversation.request(prompt)
            params = self._params(args, None, conversation)
        else:
            messages = prompt if isinstance(prompt, str) else [{"role": "user", "content": prompt}]
            params = self._params(args, system)
        params.update(tool_params)
        client = self._client_for_cell()
        sink = self._sink(args, params["model"])
        if isinstance(sink, TextSink):  # a live view is replaced by the result, which shows them
            for note in notes:
                print(note, file=sys.stderr)
        reply, error = run_stream(client, messages, params, sink, notes)
        if args.out and reply is not None:
            self.shell.user_ns[args.out] = reply
        if error is not None:
            raise error
        assert reply is not None  # no error: the stream ran
        if conversation is not None:
            conversation.record(prompt, reply)
            self._active_chat = args.chat
        code_mode = args.code or ("below" if args.format == "code" else None)
        if code_mode and reply is not None:
            message = send_code(self.shell, reply.text, code_mode)
            if isinstance(sink, TextSink):
                print(message)
            else:  # printed now, it would arrive between the live view and the result
                reply.notes.append(message)
        return reply

    def _map_cell(self, args: Any, cell: str) -> Any:
        """`%%glm --map VAR`: the cell is the template (row fields fill it), VAR the data."""
        if args.map_over not in self.shell.user_ns:
            raise UsageError(f"--map {args.map_over}: no variable named {args.map_over!r} in the notebook")
        if args.chat is not None:
            raise UsageError("--map runs independent prompts; it cannot continue a conversation (-c)")
        args.interpolate = False  # each row fills the template, not the notebook's variables
        template, system, _notes = self._prompt(args, cell)
        params = self._params(args, system)
        model = params.pop("model")
        try:
            results = self._client_for_cell().map(
                template,
                self.shell.user_ns[args.map_over],
                model=model,
                progress=not args.quiet,
                concurrency=args.concurrency or 8,
                max_cost=args.max_cost,
                **params,
            )
        except (TypeError, ValueError) as exc:
            raise UsageError(f"--map {args.map_over}: {exc}") from None
        if args.out:
            self.shell.user_ns[args.out] = results
        if not args.quiet and supports_live_display(self.shell):
            clear_output(wait=True)  # the progress line goes when the result arrives
        return results

    def _tool_params(self, args: Any) -> dict[str, Any]:
        """`tools`, `approve` and `max_steps` from `--tools`, `--confirm`, `--max-steps`."""
        if args.tools is None:
            if args.confirm or args.max_steps is not None:
                raise UsageError("--confirm and --max-steps go with --tools NAME[,NAME…]")
            return {}
        names = [name.strip() for name in args.tools.split(",") if name.strip()]
        if not names:
            raise UsageError(
                "--tools needs the names of notebook functions, e.g. --tools weather,convert_units"
            )
        tools = []
        for name in names:
            if name not in self.shell.user_ns:
                raise UsageError(
                    f"--tools {name}: no function named {name!r} in the notebook; define it first"
                )
            function = self.shell.user_ns[name]
            if not callable(function):
                raise UsageError(f"--tools {name}: {name!r} is a {type(function).__name__}, not a function")
            tools.append(function)
        params: dict[str, Any] = {"tools": tools}
        if args.max_steps is not None:
            if args.max_steps < 1:
                raise UsageError(f"--max-steps must be at least 1, not {args.max_steps}")
            params["max_steps"] = args.max_steps
        if args.confirm:
            params["approve"] = self._confirm()
        return params

    def _confirm(self) -> Any:
        """`approve(call)` asking y/n through the frontend's stdin (a one-line error without one)."""
        kernel = getattr(self.shell, "kernel", None)
        if kernel is not None and not getattr(kernel, "_allow_stdin", True):
            raise UsageError(
                "--confirm asks with input(), which this frontend does not support; run the cell "
                "without --confirm, or call client.chat(..., tools=[...], approve=...) in Python"
            )

        def approve(call: Any) -> bool:
            answer = input(call.approval().question())
            return answer.strip().lower() in ("y", "yes")

        return approve

    def _prompt(self, args: Any, cell: str) -> tuple[str | list[dict[str, Any]], str | None, list[str]]:
        """The prompt (text, or text and image parts in order) and system prompt, interpolated
        and with the API key masked, and quiet notes for the user (undefined `{names}`, a masked
        key, resized images); usage mistakes raise `UsageError`."""
        if args.out is not None and (not args.out.isidentifier() or keyword.iskeyword(args.out)):
            raise UsageError(f"-o/--out needs a Python variable name, not {args.out!r}")
        if not cell.strip() and not args.fix:
            raise UsageError("%%glm needs a prompt: write it in the cell below the %%glm line.")
        prompt, system = cell.strip("\n"), _first(args.system, self.settings.system)
        notes: list[str] = []
        parts: tuple[dict[str, Any], ...] = ()
        if args.interpolate:
            try:
                namespace = ChainMap(self.shell.user_ns, {"Err": self.errors})
                expanded = interpolate_prompt(prompt, namespace, images=True)
                prompt, notes, parts = expanded.text, expanded.notes, expanded.parts
                if args.system is not None:
                    expanded = interpolate_prompt(args.system, namespace)
                    system, notes = expanded.text, notes + expanded.notes
            except InterpolationError as exc:
                raise UsageError(str(exc)) from None
        key = resolve_api_key(self.settings.api_key)
        prompt, hidden = mask_secret(prompt, key, KEY_MASK)
        if system is not None:
            system, hidden_in_system = mask_secret(system, key, KEY_MASK)
            hidden += hidden_in_system
        if hidden:
            notes.append(f"note: the prompt held your API key; {KEY_MASK} was sent in its place")
        extra = attached_images(args.image or (), args.plot, self.figures)
        if not parts and not extra:
            return prompt, system, notes
        content, image_notes = message_content(prompt, parts, extra, key)
        notes += image_notes
        shown = " ".join(image_placeholder(p) for p in content if p["type"] == "image_url")
        notes.append(f"note: sent with {shown}")
        return content, system, notes

    def _params(self, args: Any, system: str | None, chat: Chat | None = None) -> dict[str, Any]:
        """Request parameters: the cell's options, over a conversation's own (`Chat(...)`
        keywords), over the configured settings."""
        settings = self.settings
        defaults = {
            "model": settings.model,
            "system": system,
            "thinking": settings.thinking,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "max_tokens": settings.max_tokens,
            "clear_thinking": settings.clear_thinking,
            "reasoning_effort": settings.reasoning_effort,
        }
        cell = {
            "model": args.model,
            "thinking": args.thinking,
            "temperature": args.temperature,
            "top_p": args.top_p,
            "max_tokens": args.max_tokens,
            "response_format": {"type": "json_object"} if args.json else None,
            "reasoning_effort": args.reasoning_effort,
            "web_search": self._web_search(args),
        }
        own = chat.request_params() if chat is not None else {}
        params = {**defaults, **own, **{key: value for key, value in cell.items() if value is not None}}
        params["model"] = resolve_alias(params["model"], settings.aliases)  # -m fast: the model it stands for
        return {key: value for key, value in params.items() if value is not None}

    def _web_search(self, args: Any) -> bool | dict[str, Any] | None:
        """The cell's web search: its options over `GLM.web_*`; None to leave it to the chat."""
        settings = self.settings
        given = {
            "search_recency_filter": args.web_recent,
            "count": args.web_count,
            "search_domain_filter": args.web_domain,
        }
        wanted = args.web
        if wanted is None and (settings.web_search or any(v is not None for v in given.values())):
            wanted = True
        if not wanted:
            return wanted
        defaults = {
            "search_recency_filter": settings.web_recent,
            "count": settings.web_count,
            "search_domain_filter": settings.web_domain,
        }
        options = {key: defaults[key] if value is None else value for key, value in given.items()}
        options = {key: value for key, value in options.items() if value is not None}
        try:
            web_search_tool(options)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        return options or True

    def _new_chat(self, name: str) -> Chat:
        """The conversation `-c NAME` starts: the settings' system prompt and history limit."""
        return Chat(system=self.settings.system, max_history=self.settings.max_history, name=name)

    def _sink(self, args: Any, model: str) -> Sink:
        if args.quiet:
            return QuietSink()
        return answer_sink(self.shell, self.settings, model, language="json" if args.json else None)

    def _client_for_cell(self) -> GLMClient:
        """A client for the current settings and environment (kept while they stay the same)."""
        settings = self.settings
        key = settings.connection()
        if key[0] is None and key[-1][0] == "off":  # no API key anywhere (replay may not need one)
            raise MissingAPIKeyError()
        if self._client is None or self._client_settings != key:
            if self._client is not None:
                self._client.close()
            self._client = settings.client()
            self._client_settings = key
        return self._client

    # -- %glm ---------------------------------------------------------------------------------

    @no_var_expand
    @line_magic("glm")  # type: ignore[arg-type]  # as for cell_magic
    def glm_line(self, line: str) -> Any:
        """`%glm config` · `%glm history [NAME]` · `%glm reset [NAME | --all]` · `%glm fix [WORDS]` ·
        `%glm replay …`

        config   the effective settings (API key masked) and where they come from
        history  conversation NAME (default 'default'), continued with %%glm -c NAME: its messages,
                 tokens and cost; the value is the Chat (also the notebook variable NAME)
        reset    empty conversation NAME (default 'default'), or every conversation with --all
        usage    this session's requests, tokens and cost by model (--reset: start counting again)
        models   the models the service lists (else those of the price table), and the aliases
        replay   on|auto|record|replay|off [instant] · status · prune: record answers and replay them
        fix      send the last error and ask for an explanation and a corrected cell (WORDS
                 are added to the request; %%glm --fix [options] takes options, e.g. --code)

        To ask a question, use the cell magic: %%glm on the first line, the prompt below.
        """
        command, *rest = line.split() or ["help"]
        if command == "fix":
            return self.glm_cell("--fix", line.strip()[len("fix") :])
        if command == "config" and not rest:
            print(self.config_text())
        elif command == "history" and len(rest) <= 1:
            name = rest[0] if rest else DEFAULT_CONVERSATION
            return self.conversations.find(name) or Chat(name=name)
        elif command == "usage" and len(rest) <= 1 and rest in ([], ["--reset"]):
            print(LEDGER.table())
            if rest:
                LEDGER.reset()
        elif command == "models" and not rest:
            print(self.models_text())
        elif command == "reset" and len(rest) <= 1:
            target = rest[0] if rest else DEFAULT_CONVERSATION
            names = self.conversations.reset(None if target == "--all" else target)
            if self._active_chat in names:
                self._active_chat = None
            print(f"Emptied {', '.join(repr(n) for n in names) or 'no conversations'}.")
        elif command == "replay":
            print(replay_command(self.settings, self.shell, rest))
        elif command in ("help", "-h", "--help") and not rest:
            print(self.glm_line.__doc__)
        else:
            raise UsageError(
                f"%glm {line.strip()!r} is not a %glm command (config, history [NAME], reset "
                "[NAME | --all], usage, models, fix [WORDS], replay …); to ask the model, use %%glm (two %) with the prompt in the cell."
            )

    def models_text(self) -> str:
        """`%glm models`: the models, and the aliases with what they stand for."""
        models = self._client_for_cell().models()
        lines = [repr(models)]
        aliases = self.settings.aliases
        if aliases:
            lines.append("Aliases (%config GLM.aliases):")
            lines += [f"  {alias} → {target}" for alias, target in sorted(aliases.items())]
        else:
            lines.append(
                "No aliases: %config GLM.aliases = {'fast': 'glm-4.5-air'} makes -m fast send glm-4.5-air."
            )
        return "\n".join(lines)

    def config_text(self) -> str:
        """The effective settings, one per line, the API key masked."""
        settings = self.settings
        key_source = (
            "%config GLM.api_key" if settings.api_key
            else API_KEY_ENV if os.environ.get(API_KEY_ENV, "").strip()
            else f"not set: set {API_KEY_ENV} or %config GLM.api_key"
        )  # fmt: skip
        url_source = (
            "%config GLM.base_url" if settings.base_url
            else BASE_URL_ENV if os.environ.get(BASE_URL_ENV)
            else "default"
        )  # fmt: skip
        rows = [
            ("model", settings.model, ""),
            ("base_url", resolve_base_url(settings.base_url), url_source),
            ("api_key", mask_key(resolve_api_key(settings.api_key)), key_source),
            ("thinking", settings.thinking, ""),
            ("temperature", settings.temperature, ""),
            ("top_p", settings.top_p, ""),
            ("max_tokens", settings.max_tokens, ""),
            ("system", settings.system, ""),
            ("updates_per_second", settings.updates_per_second, ""),
            ("max_display_chars", settings.max_display_chars, ""),
            ("timeout", settings.timeout, ""),
            ("max_retries", settings.max_retries, ""),
        ]
        lines = ["GLM settings (change with %config GLM.<name> = value):"]
        for name, value, source in rows:
            shown = (
                str(value) if value is not None
                else "(none)" if name == "system"
                else "(no limit)" if name == "max_display_chars"
                else "(model default)"
            )  # fmt: skip
            lines.append(f"  {name:<19} {shown}" + (f"   [{source}]" if source else ""))
        return "\n".join(lines)


def load_ipython_extension(ipython: Any) -> GLMMagics:
    """Register `%%glm` / `%glm` and the `GLM` settings on `ipython` (idempotent)."""
    settings = GLM.of(ipython)
    if settings is None:
        settings = GLM(parent=ipython)
        ipython.configurables.append(settings)
    magics = GLMMagics(ipython, settings=settings)
    ipython.register_magics(magics)
    hooks.clients.register("default", magics._client_for_cell)  # a Chat() uses these settings
    return magics


def unload_ipython_extension(ipython: Any) -> None:
    """Remove `%%glm` / `%glm` (the settings stay, so a reload keeps them)."""
    for kind in ("line", "cell"):
        ipython.magics_manager.magics[kind].pop("glm", None)
    hooks.clients.register("default", default_client)
    uninstall_error_log(ipython)


def notebook_client() -> GLMClient:
    """A `GLMClient` set up like `%%glm` (key, base URL, model, and its replay file and mode),
    for Python code in the notebook — e.g. a tool loop recorded beside the magic's answers."""
    shell = get_ipython()
    settings = GLM.of(shell) or load_ipython_extension(shell).settings
    return settings.client()
