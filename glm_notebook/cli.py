"""The `glm-notebook` command: `serve` the local Z.ai-compatible server, run the `demo`, or list
the model answers a saved notebook holds (`provenance`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="glm-notebook", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the local Z.ai-compatible server in the foreground")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--api-key", default=None, help="key clients must send (default: local-glm-key)")
    serve.add_argument("--token-delay", type=float, default=0.02, help="seconds between chunks")
    serve.add_argument("--recordings", type=Path, default=None, help="folder of recordings to replay")
    serve.add_argument(
        "--models",
        default=None,
        metavar="NAME[,NAME…]",
        help="models to answer besides the documented ones (others get 1211, as from the service)",
    )

    demo = sub.add_parser("demo", help="run notebooks/quickstart.ipynb, streaming to the terminal")
    demo.add_argument("--notebook", type=Path, default=None)
    demo.add_argument("--out", type=Path, default=Path("artifacts/demo"))
    demo.add_argument("--token-delay", type=float, default=0.02)

    prov = sub.add_parser(
        "provenance", help="list the outputs a model wrote in a saved notebook, with totals"
    )
    prov.add_argument("notebook", type=Path)
    return parser


def _provenance(path: Path) -> int:
    import json

    from .results.provenance import notebook_outputs, provenance_table

    try:
        with path.open("rb") as file:
            notebook = json.loads(file.read(256 * 1024 * 1024))
    except (OSError, ValueError) as exc:
        print(f"glm-notebook provenance: cannot read {path}: {exc}", file=sys.stderr)
        return 2
    rows = list(notebook_outputs(notebook if isinstance(notebook, dict) else {}))
    if not rows:
        print(f"{path}: no output written by a model")
        return 0
    print(f"{path}:")
    print(provenance_table(rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        from .server import ServerConfig, run_server
        from .server.models import SERVED_MODELS

        options: dict[str, Any] = {"token_delay": args.token_delay}
        if args.models:
            extra = tuple(name.strip() for name in args.models.split(",") if name.strip())
            options["models"] = SERVED_MODELS + extra
        if args.api_key:
            options["api_key"] = args.api_key
        if args.recordings:
            options["recordings_dir"] = args.recordings
        config = ServerConfig(**options)
        print(f"Clients use ZAI_BASE_URL=<the URL below> and ZAI_API_KEY={config.api_key}", file=sys.stderr)
        run_server(args.host, args.port, config)
        return 0
    if args.command == "provenance":
        return _provenance(args.notebook)
    from .demo import run_demo

    return run_demo(notebook=args.notebook, out=args.out, token_delay=args.token_delay)


if __name__ == "__main__":
    sys.exit(main())
