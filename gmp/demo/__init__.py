"""Demos. ``python -m gmp.demo`` (``make run``) serves the demo API on 127.0.0.1:8000;
``python -m gmp.demo.fanout`` runs a skewed fan-out job narrated by schedtrace."""
