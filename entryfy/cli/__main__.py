"""``python -m entryfy.cli``: the same as the ``entryfy`` command."""

import sys

from entryfy.cli import main

sys.exit(main())
