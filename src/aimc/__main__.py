"""``python -m aimc``: the ``aimc`` command line (see :mod:`aimc.cli`)."""

from aimc.cli import main

raise SystemExit(main())
