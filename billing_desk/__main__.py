import sys

from billing_desk.cli import main

sys.exit(main())
