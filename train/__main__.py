"""``python -m train`` is ``ganport train``."""

from ganport.cli import run_command
from ganport.cli.train import train_command

run_command(train_command, prog_name="python -m train")
