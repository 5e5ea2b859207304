"""``python -m borderbus_cli``: the ``borderbus`` command without the console script, as tests and the demo start services."""

import sys

from borderbus_cli.main import main

sys.exit(main())
