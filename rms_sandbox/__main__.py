"""`python -m rms_sandbox`: run the sandbox from the command line."""

import sys

from rms_sandbox.cli import main

sys.exit(main())
