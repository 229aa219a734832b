"""The Python code blocks of the docs, for the tests that run them and for mypy.

A document's ```python blocks are read in order and joined into one program, as a
reader would run them one after another (a later block may use an earlier block's
``app``). A block right after a ``<!-- snippet: skip -->`` line is left out: the mark
for an example that is a fragment on purpose, the exception (no page has one today).

``python tests/http/doc_snippets.py OUTDIR`` writes one module per document into
OUTDIR, which ``make lint`` type-checks with mypy: the examples must use gmp's API as
its types say. Every page of ``DOCS`` is run by ``tests/http/test_doc_snippets.py``
and its examples' behaviour checked there and in ``test_doc_*.py``; a test fails when
a page with Python examples is missing from ``DOCS``.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOCS = (
    "README.md",
    "docs/http.md",
    "docs/resilience.md",
    "docs/observability.md",
    "docs/simulator.md",
    "docs/net.md",
    "docs/cancellation.md",
)
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


def block_with(doc: str, text: str) -> int:
    """The line the one python block of ``doc`` containing ``text`` starts on."""
    found = [line for line, code in blocks(doc) if text in code]
    assert len(found) == 1, f"{doc}: {len(found)} python blocks contain {text!r}"
    return found[0]


def run_blocks(doc: str, chosen: list[int] | None = None) -> tuple[dict[str, Any], str]:
    """Run the python blocks of ``doc`` (those starting on lines ``chosen``, or all) in
    one namespace, as a reader would; return the namespace and what they printed."""
    ns: dict[str, Any] = {"__name__": "doc_example"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for line, code in blocks(doc):
            if chosen is not None and line not in chosen:
                continue
            exec(compile(code, f"{doc}:{line}", "exec"), ns)
    return ns, out.getvalue()


class Clock:
    """A clock that moves only when told, for the examples' limiters and breakers."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def on_clock(monkeypatch: Any, clock: Clock, *names: str) -> None:
    """Make ``gmp.resilience``'s classes ``names`` (``"TokenBucket"``...) default to
    ``clock``, for the examples run after this: their own ``from gmp.resilience import
    TokenBucket`` then builds their limiters, with their arguments, on a clock the test
    moves (so "429 after the burst" holds however slowly the machine runs)."""
    import gmp.resilience

    for name in names:
        base = getattr(gmp.resilience, name)

        def __init__(self: Any, *args: Any, _base: Any = base, **kwargs: Any) -> None:
            kwargs.setdefault("clock", clock)
            _base.__init__(self, *args, **kwargs)

        frozen = type(name, (base,), {"__init__": __init__, "__slots__": ()})
        monkeypatch.setattr(gmp.resilience, name, frozen)


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
