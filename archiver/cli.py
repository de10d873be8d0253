"""Command line: parse arguments, call the library, set the exit code.

Each command lives beside the stage it drives (``archiver/<stage>/cli.py``)
and exposes ``add_parser(subparsers)`` and ``run(args) -> int``; this module
only dispatches and turns ``ArchiverError`` into one line and an exit code.
"""
from __future__ import annotations

import argparse
import gc
import importlib
import logging
import os
import sys

import archiver
from archiver import __version__
from archiver.errors import EXIT_USAGE, ArchiverError

# command name -> module with add_parser()/run()
COMMANDS = {
    "crawl": "archiver.capture.cli",
    "detect": "archiver.detect.cli",
    "map": "archiver.mapping.cli",
    "audit": "archiver.audit.cli",
    "wacz": "archiver.wacz.cli",
    "review": "archiver.review.cli",
    "verify": "archiver.verify.cli",
    "run": "archiver.jobs.cli",
    "diff": "archiver.jobs.cli",
    "schedule": "archiver.jobs.cli",
    "demo": "archiver.demo.cli",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # exit 2 with one line, as argparse does
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that command's module is imported (fast start)."""
    parser = _Parser(prog="archiver", description=archiver.__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--version", action="version", version=f"archiver {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    seen = set()
    for module_name in ([COMMANDS[only]] if only in COMMANDS else COMMANDS.values()):
        if module_name in seen:
            continue
        seen.add(module_name)
        importlib.import_module(module_name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=command)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    module = importlib.import_module(COMMANDS[args.command])
    try:
        return module.run(args)
    except ArchiverError as exc:
        print(f"archiver {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # e.g. `archiver diff ... | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"archiver {args.command}: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


def entry_point() -> None:
    """The ``archiver`` program (and ``python -m archiver``): ``main``, then exit without the
    interpreter's last garbage collections over every object a command loaded (``gc.freeze``):
    ~0.1 s a crawl spent after its work was done, with everything it wrote already closed.
    ``main`` itself leaves the collector alone, for callers that go on running."""
    code = main()
    gc.freeze()
    raise SystemExit(code)
