"""Turning routing reports into Socket.IO emits, delivered where the socket lives.

An agent's events go straight to its sockets when they are on this process; otherwise they are
published to the inbox channel of the node that holds them, so no other node decodes them
(python-socketio's Redis manager would make every node decode every emit). Broadcasts to
supervisors and web-chat customers go through the Redis manager.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
import socketio
import structlog
from engineio import packet as eio_packet
from redis.exceptions import RedisError

from queues.live_stats import forget_today
from switchboard import jsonwire, keys
from switchboard.clock import Clock, to_datetime
from web.sio.rooms import agent_room, chat_room, supervisors_room

log = structlog.get_logger(__name__)
NODE_TTL_S = 6
CHAT_SOCKETS_TTL_S = 86_400  # a widget's placement outlives any chat; a dead node's entry goes by then


def iso_ms(value: Any) -> str | None:
    try:
        return to_datetime(int(value) / 1000).isoformat()
    except (TypeError, ValueError):
        return None


def interaction_payload(iid: str, h: dict[str, str], now_ms: int) -> dict[str, Any]:
    enq = int(h.get("enq") or now_ms)
    return {
        "id": iid,
        "channel": h.get("channel"),
        "queue": h.get("queue"),
        "state": h.get("state"),
        "priority": int(h.get("prio") or 0),
        "subject": h.get("subject") or None,
        "customer": {"id": h.get("customer") or None, "name": h.get("cname") or None},
        "enqueued_at": iso_ms(enq),
        "wait_s": max(0, (now_ms - enq) // 1000),
    }


class Delivery:
    def __init__(self, sio: socketio.AsyncServer, redis: aioredis.Redis, node_id: str, clock: Clock) -> None:
        self.sio = sio
        self.redis = redis
        self.node_id = node_id
        self.clock = clock
        self.local: dict[str, int] = defaultdict(int)  # room → sockets in it on this process
        # room → (its Redis count hash, TTL) whose count for this node missed Redis (an outage):
        # the heartbeat writes this process's own count there once Redis answers again
        self._unsynced: dict[str, tuple[str, int | None]] = {}
        self._dirty_agents: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self._dirty_queues: dict[str, set[str]] = defaultdict(set)
        self._tasks: list[asyncio.Task[None]] = []
        self.queue_stats: Any = None  # set by the supervisor module: async (org, queues) -> list[dict]

    # -- where sockets live ----------------------------------------------------------------
    # An agent's sockets (room agent:…) and a web chat's widget sockets (room chat:…) are counted
    # per node in Redis, so an emit goes to the node that holds them and nowhere else.

    async def _joined(self, place: str, hash_key: str, ttl_s: int | None = None) -> None:
        self.local[place] += 1
        try:
            await self.redis.hincrby(hash_key, self.node_id, 1)
            if ttl_s is not None:
                await self.redis.expire(hash_key, ttl_s)
        except RedisError:
            self._unsynced[place] = (hash_key, ttl_s)
            raise

    async def _left(self, place: str, hash_key: str) -> None:
        self.local[place] -= 1
        if self.local[place] <= 0:
            del self.local[place]
        try:
            left = await self.redis.hincrby(hash_key, self.node_id, -1)
            if left <= 0:
                await self.redis.hdel(hash_key, self.node_id)
        except RedisError:
            # else the agent would look connected here for good: no grace, the seat kept
            self._unsynced[place] = (hash_key, None)
            raise

    async def resync_counts(self) -> int:
        """Write this process's own socket counts that an outage kept from Redis; returns how many."""
        done = 0
        for place, (hash_key, ttl_s) in list(self._unsynced.items()):
            n = self.local.get(place, 0)
            if n > 0:
                await self.redis.hset(hash_key, self.node_id, n)
                if ttl_s is not None:
                    await self.redis.expire(hash_key, ttl_s)
            else:
                await self.redis.hdel(hash_key, self.node_id)
            del self._unsynced[place]
            done += 1
        return done

    async def emit_local(self, place: str, namespace: str, event: str, data: Any) -> None:
        """Encode the event once and queue it on each of the room's sockets held here.

        What ``sio.emit(..., ignore_queue=True)`` does, minus its per-recipient task and
        ``asyncio.wait`` and its walk of the payload for binary parts (these events carry none):
        together about a third of the cost of an emit, and a routed interaction makes about eight.
        """
        sockets = [eio_sid for _, eio_sid in self.sio.manager.get_participants(namespace, place)]
        if not sockets:
            return
        nsp = "" if namespace == "/" else namespace + ","
        pkt = eio_packet.Packet(eio_packet.MESSAGE, f"2{nsp}{jsonwire.dumps([event, data])}")
        for eio_sid in sockets:
            await self.sio.eio.send_packet(eio_sid, pkt)

    async def _emit_where(self, place: str, hash_key: str, namespace: str, event: str, data: Any) -> None:
        if place in self.local:
            await self.emit_local(place, namespace, event, data)
            return
        nodes = await self.redis.hkeys(hash_key)
        if not nodes:
            return
        msg = json.dumps({"ns": namespace, "room": place, "event": event, "data": data})
        for node in nodes:
            if node != self.node_id:
                await self.redis.publish(keys.node_inbox(node), msg)

    async def agent_connected(self, org_id: str, agent_id: str) -> None:
        await self._joined(agent_room(org_id, agent_id), keys.agent_sockets(org_id, agent_id))

    async def agent_disconnected(self, org_id: str, agent_id: str) -> int:
        """Returns how many sockets this agent still has on any node."""
        await self._left(agent_room(org_id, agent_id), keys.agent_sockets(org_id, agent_id))
        return await self.live_sockets(org_id, agent_id)

    async def emit_to_agent(self, org_id: str, agent_id: str, event: str, data: Any) -> None:
        room = agent_room(org_id, agent_id)
        await self._emit_where(room, keys.agent_sockets(org_id, agent_id), "/agent", event, data)

    async def chat_joined(self, org_id: str, interaction_id: str) -> None:
        await self._joined(
            chat_room(org_id, interaction_id), keys.chat_sockets(org_id, interaction_id), CHAT_SOCKETS_TTL_S
        )

    async def chat_left(self, org_id: str, interaction_id: str) -> None:
        await self._left(chat_room(org_id, interaction_id), keys.chat_sockets(org_id, interaction_id))

    async def emit_to_chat(self, org_id: str, interaction_id: str, event: str, data: Any) -> None:
        """To the customer's widget; an API- or provider-created chat has none, and costs one HKEYS."""
        room = chat_room(org_id, interaction_id)
        await self._emit_where(room, keys.chat_sockets(org_id, interaction_id), "/customer", event, data)

    async def _inbox(self) -> None:
        """Emit what other nodes send to sockets held here; resubscribes after a Redis outage."""
        backoff = 0.5
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(keys.node_inbox(self.node_id))
                backoff = 0.5
                async for m in pubsub.listen():
                    if m.get("type") != "message":
                        continue
                    try:
                        msg = json.loads(m["data"])
                        await self.emit_local(msg["room"], msg["ns"], msg["event"], msg["data"])
                    except Exception:
                        log.exception("inbox_message_failed")
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("inbox_reconnecting", error=repr(e))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _heartbeat(self) -> None:
        """A node's sockets count only while it is alive; a killed node's entries stop counting."""
        while True:
            with contextlib.suppress(Exception):
                await self.redis.set(keys.node_alive(self.node_id), "1", ex=NODE_TTL_S)
                if self._unsynced and await self.resync_counts():
                    log.info("socket_counts_resynced", node_id=self.node_id)
            await asyncio.sleep(NODE_TTL_S / 3)

    async def live_sockets(self, org_id: str, agent_id: str) -> int:
        """Sockets the agent has on nodes that are alive (dead nodes' counts are dropped)."""
        key = keys.agent_sockets(org_id, agent_id)
        counts = await self.redis.hgetall(key)
        total = 0
        for node, n in counts.items():
            if node == self.node_id or await self.redis.exists(keys.node_alive(node)):
                total += max(0, int(n))
            else:
                await self.redis.hdel(key, node)
        return total

    # -- reports ---------------------------------------------------------------------------

    async def publish(self, org_id: str, report: dict[str, Any]) -> None:
        now_ms = int(self.clock.now() * 1000)
        for o in report.get("offers") or []:
            await self.emit_to_agent(
                org_id,
                o["agent"],
                "offer",
                {
                    "offer_id": o["offer_id"],
                    "interaction": interaction_payload(o["iid"], o["it"], now_ms),
                    "expires_at": iso_ms(o["expires_at"]),
                },
            )
            self._dirty_queues[org_id].add(o["queue"])
        for r in report.get("revoked") or []:
            await self.emit_to_agent(
                org_id, r["agent"], "offer:revoked", {"offer_id": r["offer_id"], "reason": r["reason"]}
            )
        for c in report.get("connected") or []:
            self._dirty_queues[org_id].add(c["queue"])
            forget_today(org_id)
            payload = {"interaction": interaction_payload(c["iid"], c["it"], now_ms)}
            await self.emit_to_agent(org_id, c["agent"], "interaction:connected", payload)
            if c.get("channel") != "chat":
                continue  # only web chats have a customer socket to tell
            name = await self.redis.hget(keys.agent(org_id, c["agent"]), "name")
            await self.emit_to_chat(org_id, c["iid"], "agent:joined", {"display_name": name or "Agent"})
        for e in report.get("ended") or []:
            await self.emit_to_agent(
                org_id,
                e["agent"],
                "interaction:ended",
                {
                    "interaction_id": e["iid"],
                    "reason": e["reason"],
                    "wrap_up_s": e.get("wrap_up_s", 0),
                },
            )
            if e.get("channel") == "chat" and e["reason"] not in ("customer", "transferred"):
                await self.emit_to_chat(org_id, e["iid"], "chat:ended", {"reason": e["reason"]})
        for c in report.get("completed") or []:
            await self.emit_to_agent(
                org_id,
                c["agent"],
                "interaction:completed",
                {
                    "interaction_id": c["iid"],
                    "code": c.get("code") or None,
                    "auto": bool(c.get("auto")),
                },
            )
        for a in report.get("agents") or []:
            data = {"state": a["state"], "idle_code": a.get("idle_code"), "load": a.get("load") or {}}
            await self.emit_to_agent(org_id, a["id"], "agent:state", data)
            self._dirty_agents[org_id][a["id"]] = {"id": a["id"], **data}
        for r in report.get("requeued") or []:
            self._dirty_queues[org_id].add(r["queue"])
        for a in report.get("abandoned") or []:
            self._dirty_queues[org_id].add(a["queue"])
            if a.get("channel") == "chat":
                await self.emit_to_chat(org_id, a["iid"], "chat:ended", {"reason": a["reason"]})
        for d in report.get("decisions") or []:
            if d.get("outcome") == "waiting" and d.get("queue"):
                self._dirty_queues[org_id].add(d["queue"])

    def mark_queue(self, org_id: str, queue: str) -> None:
        self._dirty_queues[org_id].add(queue)

    async def message_to_agent(
        self, org_id: str, agent_id: str, interaction_id: str, sender: str, text: str, at: datetime
    ) -> None:
        await self.emit_to_agent(
            org_id,
            agent_id,
            "message",
            {
                "interaction_id": interaction_id,
                "from": sender,
                "text": text,
                "at": at.isoformat(),
            },
        )

    # -- supervisor batching ---------------------------------------------------------------

    async def _flush_supervisors(self) -> None:
        """At most one update per agent and queue every 500 ms, however busy the floor is."""
        while True:
            await asyncio.sleep(0.5)
            try:
                agents, self._dirty_agents = self._dirty_agents, defaultdict(dict)
                queues, self._dirty_queues = self._dirty_queues, defaultdict(set)
                for org_id, changed in agents.items():
                    await self.sio.emit(
                        "agent:state",
                        {"agents": list(changed.values())},
                        room=supervisors_room(org_id),
                        namespace="/supervisor",
                    )
                if self.queue_stats is not None:
                    for org_id, names in queues.items():
                        stats = await self.queue_stats(org_id, sorted(names))
                        await self.sio.emit(
                            "queue:stats", {"queues": stats}, room=supervisors_room(org_id), namespace="/supervisor"
                        )
            except Exception:
                log.exception("supervisor_flush_failed")

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._inbox()),
            asyncio.create_task(self._flush_supervisors()),
            asyncio.create_task(self._heartbeat()),
        ]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
