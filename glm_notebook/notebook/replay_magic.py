"""The notebook face of record and replay: `%glm replay …` and the `GLM.replay*` settings.

```
%glm replay on              # = auto; also record, replay, off; add "instant" to skip the pace
%glm replay status          # file, mode, this session's hits / misses, the file's size
%glm replay prune           # drop entries no cell used in this session
```

The mode comes from `GLM_REPLAY` in the environment when set (so CI can force `replay`), else
`%config GLM.replay`. The file is `GLM.replay_path` (or `GLM_REPLAY_PATH`), else the notebook's
name with `.glm.jsonl` beside it: JupyterLab / Notebook 7 give the kernel the notebook's path in
`JPY_SESSION_NAME`, VS Code in `__vsc_ipynb_file__`. Runners (nbclient, `jupyter nbconvert
--execute`, papermill, nbval) say nothing, but start the kernel beside the notebook: there the
notebook is the one whose code cells hold the cells this kernel has run.

The pace is `GLM.replay_pace` (or `GLM_REPLAY_PACE`): `auto`, the default, replays at the recorded
pace where a person watches (a frontend named the notebook) and at once under a runner.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError

from ..client.replay import MODES, PACES, Replay

__all__ = [
    "REPLAY_ENV",
    "replay_mode",
    "replay_path",
    "replay_for",
    "replay_state",
    "replay_command",
]

REPLAY_ENV = "GLM_REPLAY"
REPLAY_PATH_ENV = "GLM_REPLAY_PATH"
REPLAY_PACE_ENV = "GLM_REPLAY_PACE"
_SUFFIX = ".glm.jsonl"
#: Notebooks looked at, and the largest read, when finding the one a runner executes.
_MAX_NOTEBOOKS = 200
_MAX_NOTEBOOK_BYTES = 50_000_000
#: The notebook found by its cells, per working directory (a kernel runs one notebook).
_FOUND: dict[Path, Path] = {}
#: One `Replay` per file for the life of the kernel: its counts and used keys are "the last run".
_REPLAYS: dict[Path, Replay] = {}


def _mode_word(word: str, where: str) -> str:
    mode = "auto" if word.strip().lower() == "on" else word.strip().lower()
    if mode not in MODES:
        raise UsageError(f"{where} must be one of on, {', '.join(MODES)}, not {word!r}")
    return mode


def replay_mode(settings: Any) -> tuple[str, str]:
    """`(mode, where it comes from)`: `GLM_REPLAY` first, then `GLM.replay`."""
    env = os.environ.get(REPLAY_ENV, "").strip()
    if env:
        return _mode_word(env, REPLAY_ENV), REPLAY_ENV
    return _mode_word(settings.replay or "off", "GLM.replay"), "%config GLM.replay"


def _pace(settings: Any, shell: Any) -> str:
    """The pace asked for; `auto`: recorded where a frontend shows the notebook, else instant."""
    pace = (os.environ.get(REPLAY_PACE_ENV, "").strip() or settings.replay_pace).lower()
    if pace == "auto":
        return "recorded" if _frontend_notebook(shell) else "instant"
    if pace not in PACES:
        raise UsageError(f"GLM.replay_pace must be one of auto, {', '.join(PACES)}, not {pace!r}")
    return pace


def _frontend_notebook(shell: Any) -> Path | None:
    """The notebook a frontend named: JupyterLab / Notebook 7 (`JPY_SESSION_NAME`), VS Code."""
    notebook = os.environ.get("JPY_SESSION_NAME", "").strip()
    if notebook.endswith(".ipynb"):
        path = Path(notebook)
        return path if path.is_absolute() else Path.cwd() / path.name  # the kernel runs beside it
    vscode = (getattr(shell, "user_ns", None) or {}).get("__vsc_ipynb_file__")
    return Path(vscode) if isinstance(vscode, str) and vscode.endswith(".ipynb") else None


def _code_cells(path: Path) -> set[str] | None:
    """The stripped sources of a notebook's code cells; None for what is not a readable one."""
    try:
        if path.stat().st_size > _MAX_NOTEBOOK_BYTES:
            return None
        cells = json.loads(path.read_bytes())["cells"]
        return {
            ("".join(c["source"]) if isinstance(c["source"], list) else c["source"]).strip()
            for c in cells
            if c.get("cell_type") == "code"
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _runner_notebook(shell: Any) -> tuple[Path | None, str]:
    """The notebook in the working directory whose code cells hold the cells run so far (as
    nbclient, nbconvert, papermill and nbval run them), or None and why not."""
    here = Path.cwd()
    if here in _FOUND and _FOUND[here].exists():
        return _FOUND[here], ""
    ran = [*_history(shell), _running_code(shell)]
    ran = [cell for cell in ran if cell]
    if not ran:
        return None, f"no cell has run in {here}"
    scores: dict[Path, int] = {}
    for path in sorted(here.glob("*.ipynb"))[:_MAX_NOTEBOOKS]:
        cells = _code_cells(path)
        if cells is not None and ran[-1] in cells:
            scores[path] = sum(cell in cells for cell in ran)
    if not scores:
        return None, f"no notebook in {here} holds this cell"
    best = [path for path, score in scores.items() if score == max(scores.values())]
    if len(best) > 1:  # papermill's output beside its input: the one with recordings is meant
        best = [path for path in best if _recordings(path).exists()] or best
    if len(best) > 1:
        return None, f"{', '.join(p.name for p in best[:3])} all hold this cell"
    _FOUND[here] = best[0]
    return best[0], ""


def _running_code(shell: Any) -> str:
    """The code of the execute request being run (ipykernel keeps it; nbval runs cells without
    storing them in the history)."""
    try:
        return str(shell.get_parent()["content"]["code"]).strip()
    except (AttributeError, KeyError, TypeError):
        return ""


def _history(shell: Any) -> list[str]:
    history = getattr(getattr(shell, "history_manager", None), "input_hist_raw", None) or []
    return [cell.strip() for cell in history if isinstance(cell, str) and cell.strip()]


def _recordings(notebook: Path) -> Path:
    return notebook.with_name(notebook.name[: -len(".ipynb")] + _SUFFIX)


def replay_path(settings: Any, shell: Any) -> Path | None:
    """The recordings file: set explicitly, else beside the notebook, else None (unknown)."""
    return _replay_path(settings, shell)[0]


def _replay_path(settings: Any, shell: Any) -> tuple[Path | None, str]:
    """The recordings file, or None and why the notebook is not known."""
    explicit = settings.replay_path or os.environ.get(REPLAY_PATH_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser().absolute(), ""
    notebook = _frontend_notebook(shell)
    if notebook is None:
        notebook, why = _runner_notebook(shell)
        if notebook is None:
            return None, why
    return _recordings(notebook), ""


def replay_state(settings: Any, shell: Any) -> tuple[str, str | None, str]:
    """What the client depends on: mode, file and pace (the client is rebuilt when they change)."""
    mode, _ = replay_mode(settings)
    if mode == "off":
        return ("off", None, "")
    path = replay_path(settings, shell)
    return (mode, str(path) if path else None, _pace(settings, shell))


def replay_for(settings: Any, shell: Any) -> Replay | None:
    """The `Replay` for the current settings, or None when replay is off."""
    mode, path, pace = replay_state(settings, shell)
    if mode == "off":
        return None
    if path is None:
        why = _replay_path(settings, shell)[1]
        raise UsageError(
            f"Replay is {mode} but the notebook's path is unknown here ({why}): set "
            '%config GLM.replay_path = "name.glm.jsonl" (or GLM_REPLAY_PATH).'
        )
    replay = _REPLAYS.get(Path(path))
    if replay is None:
        replay = _REPLAYS[Path(path)] = Replay(path, mode=mode, pace=pace)
    replay.mode, replay.pace = mode, pace
    return replay


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def replay_command(settings: Any, shell: Any, words: list[str]) -> str:
    """`%glm replay [on|auto|record|replay|off [instant|recorded] | status | prune]`: the text to print."""
    command = words[0].lower() if words else "status"
    if command in ("on", *MODES) and len(words) <= 2:
        if len(words) == 2 and words[1].lower() not in ("auto", *PACES):
            raise UsageError(
                f"%glm replay {command} takes a pace (auto, {', '.join(PACES)}), not {words[1]!r}"
            )
        settings.replay = _mode_word(command, "%glm replay")
        if len(words) == 2:
            settings.replay_pace = words[1].lower()
        mode, source = replay_mode(settings)
        note = (
            f" ({REPLAY_ENV}={mode} in the environment wins)"
            if source == REPLAY_ENV and mode != settings.replay
            else ""
        )
        if mode == "off":
            return f"Replay off{note}: every cell asks the service."
        replay = replay_for(settings, shell)
        assert replay is not None
        return f"Replay {mode}{note}: {_shown(replay.store.path)}"
    if command == "status" and len(words) <= 1:
        mode, source = replay_mode(settings)
        path = replay_path(settings, shell)
        if mode == "off":
            return f"Replay off [{source}]" + (f"; file would be {_shown(path)}" if path else "")
        replay = replay_for(settings, shell)
        assert replay is not None
        status = replay.status().replace(str(replay.store.path), _shown(replay.store.path), 1)
        return f"{status}\nmode from    {source}"
    if command == "prune" and len(words) <= 1:
        path = replay_path(settings, shell)
        replay = _REPLAYS.get(path) if path else None
        if replay is None or not replay.used:
            raise UsageError(
                "%glm replay prune keeps what this session replayed or recorded, and it has used "
                "nothing yet: run the notebook first."
            )
        kept, dropped = replay.prune()
        return f"Kept {kept} entries, dropped {dropped} from {_shown(replay.store.path)}."
    raise UsageError(
        f"%glm replay {' '.join(words)!r}: use on, auto, record, replay or off (optionally then "
        "instant or recorded), status, or prune."
    )
