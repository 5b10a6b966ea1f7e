"""`python -m chatkit ...`: see chatkit.cli."""

import sys

from chatkit.cli import main

sys.exit(main())
