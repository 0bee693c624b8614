"""The portal's REST methods: ``build_handlers(store)`` maps lower-case method names to handlers.

Families (reported in :attr:`.registry.MethodResult.family` for the cost model):

* ``classic``: ``crm.{deal,lead,contact,company}.{list,get,add,update,delete,fields}``, ``crm.status.list``;
* ``item``: ``crm.item.{list,get,add,update,delete,fields}`` (``entityTypeId`` 1, 2, 3, 4 and 1032);
* ``task``: ``tasks.task.{list,get,add,update,delete,getfields}``;
* ``user``: ``user.get``, ``user.current``; ``other``: ``user.fields``, ``profile``, ``server.time``
  and the lists of :mod:`.handlers_lists` (``department.get``, ``lists.element.get``,
  ``disk.storage.getlist``, ``disk.folder.getchildren``, ``catalog.product.list``).

Handlers are pure: they read and write the :class:`~.store.Store`, never sleep and signal the
portal's errors by raising :class:`~.errors.RestError`.
"""

from __future__ import annotations

from .handlers_crm import classic_handlers, item_handlers
from .handlers_lists import list_handlers
from .handlers_other import status_handlers, task_handlers, user_handlers
from .registry import Handler
from .store import Store


def build_handlers(store: Store) -> dict[str, Handler]:
    """All methods the emulated portal knows, keyed by lower-case method name."""
    return {
        **classic_handlers(store),
        **item_handlers(store),
        **status_handlers(),
        **task_handlers(store),
        **user_handlers(store),
        **list_handlers(store),
    }
