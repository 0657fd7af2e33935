"""`python main.py` is the same program as the `billing-desk` console script."""

import sys

from billing_desk.cli import main

if __name__ == "__main__":
    sys.exit(main())
