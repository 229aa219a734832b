"""``python -m gmp.demo``: serve the demo API (``make run``)."""

from gmp.demo.service import main

raise SystemExit(main())
