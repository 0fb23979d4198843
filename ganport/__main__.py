"""``python -m ganport`` is the ``ganport`` command."""

from ganport.cli import main

main()
