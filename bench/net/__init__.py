"""gmp.net's echo round trip and connection rate beside asyncio, uvloop, trio and Go's net
(``python -m bench.net``; see bench/net/README.md)."""
