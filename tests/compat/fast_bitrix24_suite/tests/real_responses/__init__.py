"""fast_bitrix24's ``tests.real_responses.<name>`` modules, read from the JSON copies in
``shared/reference/real-responses/`` beside the repository instead of pinned Python literals.

``from tests.real_responses.<name> import response`` gives the value the original module holds (25 of
the 27 are identical; in ``crm_item_add`` and ``single_add`` personal names are masked). The captures
stay out of the repository, as the project's rule for ``shared/`` says; a test that needs one is
skipped when the folder is absent.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

FOLDER = Path(__file__).resolve().parents[6] / "shared" / "reference" / "real-responses"


class _Captures(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports ``<this package>.<name>`` as a module whose ``response`` is ``<name>.json``."""

    def find_spec(
        self, fullname: str, path: object, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.startswith(f"{__name__}."):
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        capture = FOLDER / f"{module.__name__.rpartition('.')[2]}.json"
        if not capture.is_file():
            pytest.skip(f"{capture} is absent (the captured responses are not part of the repository)")
        module.response = json.loads(capture.read_text(encoding="utf-8"))  # type: ignore[attr-defined]


sys.meta_path.insert(0, _Captures())
