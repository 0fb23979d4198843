"""Griffe extension for the API page: the stages live beside ``ganport/`` in a checkout.

``pyproject.toml`` maps ``export/``, ``infer/`` and ``train/`` to ``ganport.export``,
``ganport.infer`` and ``ganport.train``, which griffe's static finder cannot follow; this
loads them as ganport's submodules, so ``::: ganport.export`` reads the source's docstrings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import griffe

STAGES = ("export", "infer", "train")


class Stages(griffe.Extension):
    """Attach the checkout's stage folders to the ``ganport`` package."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if pkg.name != "ganport" or not isinstance(pkg.filepath, Path):
            return
        root = pkg.filepath.parent.parent
        for name in STAGES:
            init = root / name / "__init__.py"
            if name not in pkg.members and init.is_file():
                pkg.set_member(name, loader._load_module(name, init, parent=pkg))
