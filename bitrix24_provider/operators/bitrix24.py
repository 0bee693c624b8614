"""The Bitrix24 operators, importable from one place: :class:`Bitrix24GetAllOperator` (whole lists
into SQL, files or DataFrames, :mod:`.get_all`) and :class:`Bitrix24CallOperator` (one method applied
to many items, :mod:`.call`)."""

from bitrix24_provider.operators.call import Bitrix24CallError, Bitrix24CallOperator, Bitrix24WriteError
from bitrix24_provider.operators.get_all import Bitrix24GetAllOperator

__all__ = ["Bitrix24CallError", "Bitrix24CallOperator", "Bitrix24GetAllOperator", "Bitrix24WriteError"]
