"""`python -m bench [--smoke]`: run the scenarios and print one table."""

import sys

from bench.run import main

sys.exit(main())
