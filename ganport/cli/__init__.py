"""The ``ganport`` command: one click group, one subcommand per job.

Subcommand modules import torch, onnx and onnxruntime only inside their functions,
so ``ganport sample --help`` stays fast and works without torch. Errors a user can
cause become one line on stderr and exit code 2 (usage, input) or 1 (the job failed);
``--debug`` (or GANPORT_DEBUG=1) shows the traceback instead.
"""

from __future__ import annotations

import os
import sys
import traceback

import click

from ganport import __version__
from ganport.core.errors import GanportError, InputError

# What the ``train`` extra installs; sample and score need none of it.
TRAIN_EXTRA_MODULES = {
    "torch",
    "onnx",
    "onnxscript",
    "sklearn",
    "scipy",
    "mlxtend",
    "tensorboard",
    "matplotlib",
}

CONTEXT = {"help_option_names": ["-h", "--help"], "show_default": True, "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="ganport")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Train small GANs, export them to ONNX, run and check them on ONNX Runtime."""
    if debug:
        os.environ["GANPORT_DEBUG"] = "1"


def _register() -> None:
    from ganport.cli.bench import bench_command
    from ganport.cli.evaluate import evaluate_command
    from ganport.cli.export import export_command
    from ganport.cli.parity import parity_command
    from ganport.cli.pipeline import pipeline_command
    from ganport.cli.plot import plot_command
    from ganport.cli.sample import sample_command
    from ganport.cli.score import score_command
    from ganport.cli.tag import tag_command
    from ganport.cli.train import train_command
    from ganport.cli.web import web_command

    cli.add_command(train_command, "train")
    cli.add_command(export_command, "export")
    cli.add_command(sample_command, "sample")
    cli.add_command(score_command, "score")
    cli.add_command(parity_command, "parity")
    cli.add_command(bench_command, "bench")
    cli.add_command(pipeline_command, "pipeline")
    cli.add_command(plot_command, "plot")
    cli.add_command(evaluate_command, "evaluate")
    cli.add_command(web_command, "web")
    cli.add_command(tag_command, "tag")


def run_command(command: click.Command, prog_name: str, args: list[str] | None = None) -> None:
    """Run a click command with ganport's error policy and exit with its code."""
    args = list(sys.argv[1:] if args is None else args)
    debug = "--debug" in args or os.environ.get("GANPORT_DEBUG") == "1"
    try:
        try:
            # standalone_mode=False: click returns an exit code for --help/--version/ctx.exit.
            code = command.main(args=args, prog_name=prog_name, standalone_mode=False)
        except ModuleNotFoundError as exc:
            raise _missing_extra(exc) from exc
    except click.exceptions.Abort:
        click.echo("ganport: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:  # bad flags and option values
        if debug:
            raise
        click.echo(f"ganport: error: {_one_line(exc.format_message())}", err=True)
        sys.exit(exc.exit_code)
    except GanportError as exc:
        if debug or os.environ.get("GANPORT_DEBUG") == "1":
            traceback.print_exc()
        if not getattr(exc, "quiet", False):  # said once by rank 0 of a torchrun job
            click.echo(f"ganport: error: {_one_line(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("ganport: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        if debug or os.environ.get("GANPORT_DEBUG") == "1":
            raise
        click.echo(
            f"ganport: internal error: {type(exc).__name__}: {_one_line(str(exc))} "
            "(rerun with --debug for the traceback)",
            err=True,
        )
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _missing_extra(exc: ModuleNotFoundError) -> Exception:
    """A runtime-only install lacks the training side: name the extra that brings it."""
    missing = (exc.name or "").partition(".")[0]
    if missing not in TRAIN_EXTRA_MODULES:
        return exc
    return InputError(
        f"this command needs the training side ({missing} is not installed): "
        "pip install 'ganport[train]'"
    )


def _one_line(message: str) -> str:
    return " ".join(message.split())


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``ganport`` console script."""
    run_command(cli, prog_name="ganport", args=args)


_register()
