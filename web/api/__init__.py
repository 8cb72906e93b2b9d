"""REST handlers. Every module here registers its routes on ``web.routes.api`` when imported.

A module may also define ``async def on_startup(ctx, background: bool) -> list[asyncio.Task]``
to wire itself into the running app (background workers, hooks); the app cancels the tasks at
shutdown.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def load_modules() -> list[ModuleType]:
    return [importlib.import_module(f"{__name__}.{m.name}") for m in pkgutil.iter_modules(__path__)]
