"""A faithful Bitrix24 portal emulator: REST routes, encodings, envelopes, batch with ``$result``
references, the leaky bucket, the operating-time limit, OAuth expiry, server cost and faults.

Start it with ``python -m bitrix24_provider.emulator --port 8765`` or in-process::

    async with Emulator(EmulatorConfig(deals=10_000)) as portal:
        print(portal.webhook_url)
"""

from .config import CostModel, EmulatorConfig, Faults
from .runner import Emulator

__all__ = ["CostModel", "Emulator", "EmulatorConfig", "Faults"]
