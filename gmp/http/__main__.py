"""``python -m gmp.http serve MODULE:APP ...``: the ``gmp serve`` command on its own."""

import sys

from gmp.http.cli import main

if __name__ == "__main__":
    sys.exit(main())
