"""The Python code blocks of the docs, for the tests that run them and for mypy.

A document's ```python blocks are read in order and joined into one program, as a
reader would run them one after another (a later block may use an earlier block's
``app``). A block right after a ``<!-- snippet: skip -->`` line is left out.

``python tests/http/doc_snippets.py OUTDIR`` writes one module per document into
OUTDIR, which ``make lint`` type-checks with mypy: the examples must use gmp's API as
its types say.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "docs/http.md")
"""The documents whose examples are run by the tests and type-checked by make lint."""

_FENCE = re.compile(r"^```(\w*)\s*$")
SKIP = "<!-- snippet: skip -->"


def blocks(doc: str, lang: str = "python") -> list[tuple[int, str]]:
    """The ``lang`` code blocks of ``doc`` (relative to the repository), with the line
    each starts on, skipped ones left out."""
    lines = (ROOT / doc).read_text(encoding="utf-8").splitlines()
    out: list[tuple[int, str]] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        start = i + 1
        end = start
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        skipped = i > 0 and lines[i - 1].strip() == SKIP
        if m.group(1) == lang and not skipped:
            out.append((start + 1, "\n".join(lines[start:end]) + "\n"))
        i = end + 1
    return out


def program(doc: str) -> str:
    """The python blocks of ``doc`` as one program, each block marked with its line."""
    parts = [f"# {doc}:{line}\n{code}" for line, code in blocks(doc)]
    return "\n".join(parts)


def module_name(doc: str) -> str:
    return "doc_" + re.sub(r"\W", "_", doc.removesuffix(".md")).lower()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: doc_snippets.py OUTDIR\n")
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    for doc in DOCS:
        (out / f"{module_name(doc)}.py").write_text(program(doc), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
