"""Benchmarks: gmp beside asyncio, uvloop, trio and a ThreadPoolExecutor.

Run ``python -m bench`` (or ``make bench``); see bench/README.md. Every measured case runs in
a fresh subprocess (``python -m bench.worker``) so one rival's heap, threads or event-loop
policy cannot colour another's figures.
"""
