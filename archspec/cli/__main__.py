"""`python -m archspec.cli ...` runs the ``archspec`` command."""

from . import main

main()
