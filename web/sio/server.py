"""The Socket.IO server: python-socketio's, closing connections that send packets it cannot read.

python-socketio decodes a packet before any handler of ours runs, so malformed JSON, a lone
surrogate or an event packet without an event name never reaches the guarded handlers
(web/sio/common.py). Unhandled, engine.io logs each one as an ERROR with a traceback and keeps the
connection open, so one client could fill the logs. The reference Socket.IO server closes a
connection on a parse error; this does the same, with one warning line.
"""

from __future__ import annotations

from typing import Any

import socketio
import structlog

log = structlog.get_logger(__name__)


class SocketServer(socketio.AsyncServer):
    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        try:
            await super()._handle_eio_message(eio_sid, data)
        except Exception as e:
            request = (self.environ.get(eio_sid) or {}).get("aiohttp.request")
            log.warning(
                "socketio_packet_refused",
                error=repr(e)[:200],
                bytes=len(data),
                peer=request.remote if request is not None else None,
            )
            await self.eio.disconnect(eio_sid)
