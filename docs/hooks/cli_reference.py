"""mkdocs hook: the CLI reference page is generated from memae's own argument parser, so it
cannot drift from the command line (``docs/cli-reference.md`` holds the marker)."""

from __future__ import annotations

import argparse
import os

MARKER = "<!-- memae cli reference -->"


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps its subcommands here only
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _pages(parser: argparse.ArgumentParser, name: str, depth: int = 2) -> list[str]:
    os.environ.setdefault("COLUMNS", "100")  # help wrapped as in a terminal of 100 columns
    out = [f"{'#' * depth} `{name}`\n", "```text", parser.format_help().rstrip(), "```\n"]
    for sub, child in _subparsers(parser).items():
        out += _pages(child, f"{name} {sub}", depth + 1)
    return out


def reference() -> str:
    from memae.cli import build_parser

    return "\n".join(_pages(build_parser(), "memae"))


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ANN001
    return markdown.replace(MARKER, reference()) if MARKER in markdown else markdown
