"""`python -m kind_tf2 <command>`: the same as the `kind-tf2` console script."""

import sys

from kind_tf2.cli import main

sys.exit(main())
