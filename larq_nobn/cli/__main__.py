"""`python -m larq_nobn.cli`: the same as the `larq-nobn` command."""

import sys

from larq_nobn.cli import main

sys.exit(main())
