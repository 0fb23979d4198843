"""The CLI is an interface CI jobs call: its commands, options and defaults are held against
a recorded file, so a change to them is a decision (record it, and say it in the
changelog) rather than an accident.

To record a deliberate change: ``python -m tests.cli.test_cli_surface``.
"""

import json
from pathlib import Path
from typing import Any

import click

from ganport.cli import cli

RECORD = Path(__file__).with_name("cli_surface.json")
UNSET = getattr(click.core, "UNSET", None)  # click's "no default" marker, where it has one


def surface() -> dict[str, Any]:
    """Every command's parameters: names, flags, types, defaults, and whether required."""
    return {
        name: [_parameter(p) for p in command.params]
        for name, command in sorted(cli.commands.items())
        if not command.hidden
    }


def _parameter(param: click.Parameter) -> dict[str, Any]:
    default = None if param.default is UNSET or callable(param.default) else param.default
    return {
        "name": param.name,
        "flags": [*param.opts, *param.secondary_opts],
        "kind": "option" if isinstance(param, click.Option) else "argument",
        "type": param.type.name,
        "default": _plain(default),
        "required": param.required,
        "hidden": bool(getattr(param, "hidden", False)),
    }


def _plain(value: Any) -> Any:
    """Defaults as JSON: tuples as lists, paths and other objects as strings."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def test_the_cli_surface_is_the_recorded_one():
    recorded = json.loads(RECORD.read_text())
    live = surface()
    changed = sorted(
        name for name in recorded.keys() | live.keys() if recorded.get(name) != live.get(name)
    )
    assert not changed, (
        f"the CLI changed in: {', '.join(changed)}; if that is meant, record it with "
        "`python -m tests.cli.test_cli_surface` and note it in docs/changelog.md"
    )


def test_a_renamed_option_keeps_working_with_a_warning(tmp_path, capsys):
    """``parity --report`` became ``--json``; the old spelling still writes the report."""
    from tests.conftest import run_inprocess

    code, _, err = run_inprocess(capsys, "parity", tmp_path, "--report", tmp_path / "r.json")
    assert "--report is deprecated; use --json" in err
    assert code == 2 and "no .onnx files" in err  # the run itself goes on as with --json


if __name__ == "__main__":
    RECORD.write_text(json.dumps(surface(), indent=1, sort_keys=True) + "\n")
    print(f"recorded {RECORD}")
