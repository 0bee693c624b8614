"""Starting emulators for tests: settings as keyword arguments, ``costs``/``faults`` as dicts."""

from __future__ import annotations

from typing import Any

from bitrix24_provider.emulator import CostModel, Emulator, EmulatorConfig, Faults


async def start_emulator(**settings: Any) -> Emulator:
    """A started emulator on 127.0.0.1; answers at once unless ``simulate_cost=True`` is given."""
    settings.setdefault("simulate_cost", False)
    if isinstance(settings.get("costs"), dict):
        settings["costs"] = CostModel(**settings["costs"])
    if isinstance(settings.get("faults"), dict):
        settings["faults"] = Faults(**settings["faults"])
    emulator = Emulator(EmulatorConfig(**settings))
    await emulator.start()
    return emulator
