"""``python -m messenger``: the same as the ``messenger`` command."""

from messenger.cli import main

main()
