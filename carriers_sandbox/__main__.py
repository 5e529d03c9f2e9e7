"""`python -m carriers_sandbox`: run the carrier sandbox from the command line."""

import sys

from carriers_sandbox.cli import main

sys.exit(main())
