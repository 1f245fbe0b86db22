"""`python -m glm_notebook.server [--host H] [--port P] [--api-key K] [--token-delay S]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import ServerConfig, run_server

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve in the foreground."""
    parser = argparse.ArgumentParser(prog="python -m glm_notebook.server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--api-key", default=ServerConfig.api_key)
    parser.add_argument("--token-delay", type=float, default=0.0)
    parser.add_argument("--recordings", type=Path, default=None, help="folder of recorded exchanges")
    args = parser.parse_args(argv)
    config = ServerConfig(api_key=args.api_key, token_delay=args.token_delay)
    if args.recordings is not None:
        config.recordings_dir = args.recordings
    run_server(args.host, args.port, config)


if __name__ == "__main__":
    main()
