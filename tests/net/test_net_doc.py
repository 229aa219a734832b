"""docs/net.md's examples do what the text says: the echo server answers "hello,
gopher", a quiet peer makes the read deadline return None, and the TLS example echoes
over TLS with a certificate made at run time."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

import gmp

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "http"))
from doc_snippets import run_blocks  # noqa: E402

pytestmark = [pytest.mark.threaded, pytest.mark.timeout(120)]


def test_net_doc_examples_print_what_they_say() -> None:
    _, printed = run_blocks("docs/net.md")
    assert printed.splitlines() == ["hello, gopher", "None"]


def test_net_doc_tls_example(tmp_path: Path) -> None:
    ns: dict[str, Any]
    # trustme needs cryptography, which has no wheel for every interpreter (3.13t)
    trustme = pytest.importorskip("trustme", reason="the TLS example needs trustme")
    ns, _ = run_blocks("docs/net.md")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    certfile, keyfile, cafile = (tmp_path / n for n in ("cert.pem", "key.pem", "ca.pem"))
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    ca.cert_pem.write_to_path(str(cafile))
    reply = gmp.run(ns["tls_hello"], str(certfile), str(keyfile), str(cafile), procs=2)
    assert reply == b"over TLS"
