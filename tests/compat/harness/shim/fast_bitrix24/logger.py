"""fast_bitrix24's ``logger``: our client logs as ``bitrix24_provider.client``."""

import logging

logger = logging.getLogger("bitrix24_provider.client")
