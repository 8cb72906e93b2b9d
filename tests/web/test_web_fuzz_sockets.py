"""Every client event of every Socket.IO namespace, sent junk over a real python-socketio client: each is acked
``{"ok": false, "error": {"code", "message"}}`` (never an internal error, never silence), and the same socket
then still works. Payloads the event's own pydantic model rejects must be refused; ones it accepts but which
name nothing real (unknown ids, another organisation's ids, NUL characters) must be refused by the handler.

The events are found on the namespace classes (every ``on_`` handler), so a new event is fuzzed as it lands.
"""

from __future__ import annotations

import inspect
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import socketio
import structlog.testing
from harness import TEST_SECRET, AgentClient, Org, connect_to, drawn, intake
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from switchboard import keys
from switchboard.clock import SystemClock
from switchboard.demo import seed_org
from web.auth import issue_token
from web.sio.agent import AgentNamespace
from web.sio.common import MAX_EVENT_BYTES
from web.sio.customer import CustomerNamespace
from web.sio.supervisor import SupervisorNamespace

DESIGN_AGENT_EVENTS = {"state:set", "offer:accept", "offer:reject", "message:send", "interaction:transfer",
                       "interaction:end", "interaction:wrap_up"}
DESIGN_CUSTOMER_EVENTS = {"chat:start", "message:send"}
LIFECYCLE = {"on_connect", "on_disconnect"}


def events_of(cls: type) -> dict[str, type[BaseModel] | None]:
    """Client events a namespace handles, named as on the wire (``on_state_set`` is ``state:set``), each with
    the pydantic model its ``@event`` wrapper validates against (None: no payload, or not validated)."""
    out: dict[str, type[BaseModel] | None] = {}
    for attr in dir(cls):
        if not attr.startswith("on_") or attr in LIFECYCLE:
            continue
        fn = getattr(cls, attr)
        model = inspect.getclosurevars(fn).nonlocals.get("model")
        out[attr.removeprefix("on_").replace("_", ":", 1)] = model if isinstance(model, type) else None
    return out



DRAWN = drawn(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=6,
), 25)
# Big integers stop at 64 bits: this process's client encodes with the server's orjson (python-socketio's
# packet class is shared), which refuses wider ones; the server decodes wider ones to floats anyway.
BIG = 2**64 - 1
WHOLE_JUNK: list[Any] = [None, [], [{"a": 1}], "text", "", 0, -1, BIG, -(2**63), 1.5, True, {}, {"unexpected": 1},
                         {"__proto__": {"x": 1}}, *DRAWN]
FIELD_JUNK: list[Any] = [None, 0, -1, BIG, 1.5, True, "", " ", "\x00", "a\x00b", "x" * 5000,
                         "x" * (MAX_EVENT_BYTES + 10), [], {}, ["a"], {"$gt": ""}, "../../etc/passwd",
                         "00000000-0000-0000-0000-000000000000", "not-a-uuid", "2026-13-45"]


@dataclass
class Ids:
    """Real and foreign identifiers to put in payloads."""

    interaction: str  # connected to the fuzzing agent
    agent: str  # another agent of the same org
    foreign_interaction: str  # another organisation's, offered to its agent
    foreign_offer: str
    foreign_agent: str


def base_payload(model: type[BaseModel], ids: Ids) -> dict[str, Any]:
    """Well-typed values that touch nothing (unknown codes and queues), around the agent's real interaction."""
    table: dict[str, Any] = {"state": "available", "offer_id": "no-such-offer", "reason": "busy",
                             "interaction_id": ids.interaction, "text": "hi", "queue": "no-such-queue",
                             "code": "no-such-code", "notes": "n", "name": "Fuzz"}
    return {k: table.get(k, "fuzz") for k in model.model_fields if k in table or model.model_fields[k].is_required()}


# Fields that name something (an offer, an interaction, a queue, a code): junk there must be refused even when
# well typed. Other strings are free text, where any string but one with a NUL may be fine.
NAMING = {"state", "idle_code", "offer_id", "interaction_id", "queue", "agent_id", "code"}


def payloads(model: type[BaseModel] | None, ids: Ids) -> list[tuple[Any, bool]]:
    """(payload, whether the handler must refuse it even if the model accepts it)."""
    out: list[tuple[Any, bool]] = [(v, False) for v in WHOLE_JUNK]
    if model is None:
        return out
    base = base_payload(model, ids)
    foreign = [ids.foreign_interaction, ids.foreign_offer, ids.foreign_agent, str(uuid.uuid4())]
    for field in model.model_fields:
        for v in [*FIELD_JUNK, *foreign, *DRAWN[:8]]:
            out.append(({**base, field: v}, field in NAMING and v is not None))
        if field in base:
            out.append(({k: v for k, v in base.items() if k != field}, False))
    if "agent_id" in model.model_fields:  # transfers: to an agent of another org, or one that is not an id
        for v in [ids.foreign_agent, "not-a-uuid", "\x00", ids.agent + "x"]:
            out.append(({"interaction_id": ids.interaction, "agent_id": v}, True))
    return out


def has_nul(data: Any) -> bool:
    """A NUL anywhere in the payload: PostgreSQL text cannot hold one, so it must be refused."""
    if isinstance(data, str):
        return "\x00" in data
    if isinstance(data, dict):
        return any(has_nul(k) or has_nul(v) for k, v in data.items())
    if isinstance(data, list):
        return any(has_nul(v) for v in data)
    return False


def model_accepts(model: type[BaseModel] | None, data: Any) -> bool:
    if model is None:
        return True
    if len(repr(data)) > MAX_EVENT_BYTES:
        return False
    try:
        model.model_validate(data if data is not None else {})
    except ValidationError:
        return False
    return True


def ack_problem(event: str, data: Any, ack: Any, must_refuse: bool) -> str | None:
    where = f"{event} {str(data)[:80]!r}: {str(ack)[:200]}"
    if not isinstance(ack, dict) or not isinstance(ack.get("ok"), bool):
        return f"{where} is not an ack"
    if ack["ok"]:
        return f"{where} was accepted" if must_refuse else None
    err = ack.get("error")
    if not (isinstance(err, dict) and isinstance(err.get("code"), str) and err["code"]
            and isinstance(err.get("message"), str) and err["message"]):
        return f"{where} error lacks code or message"
    if err["code"] == "internal_error":
        return f"{where} is an internal error"
    return None


async def fuzz(sio: socketio.AsyncClient, ns: str, events: dict[str, type[BaseModel] | None], ids: Ids,
               still_works: tuple[str, Any], skip_valid: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
    """Every payload to every event; after each event's batch the socket must answer ``still_works``."""
    problems: list[str] = []
    for event, model in sorted(events.items()):
        for data, names_junk in payloads(model, ids):
            accepts = model_accepts(model, data)
            if accepts and event in skip_valid:
                continue
            must_refuse = not accepts or names_junk or has_nul(data)
            try:
                ack = await sio.call(event, data, namespace=ns, timeout=5)
            except socketio.exceptions.TimeoutError:
                problems.append(f"{event} {str(data)[:80]!r}: no ack within 5 s")
                continue
            p = ack_problem(event, data, ack, must_refuse)
            if p:
                problems.append(p)
        name, good = still_works
        ack = await sio.call(name, good, namespace=ns, timeout=5)
        if not (sio.connected and isinstance(ack, dict) and ack.get("ok")):
            problems.append(f"after {event}: {name} {good} answered {ack} (connected={sio.connected})")
    for event in ("no:such:event", "connect", "disconnect", "on_connect", "__init__", "trigger_event", "emit"):
        ack = await sio.call(event, {"a": 1}, namespace=ns, timeout=5)
        p = ack_problem(event, {"a": 1}, ack, True)
        if p:
            problems.append(p)
    return problems


async def connect(org: Org, ns: str, auth: Any) -> tuple[socketio.AsyncClient, Any]:
    """A client on ``ns``; returns it and the connect_error data (None once connected)."""
    return await connect_to(org.base, ns, auth, wait_timeout=10)


async def second_org(server: Any, pool: Any, redis: Any) -> Org:
    """Another tenant, whose ids must mean nothing to the first one's sockets."""
    org_id = f"t{uuid.uuid4().hex[:10]}"
    users = await seed_org(pool, redis, SystemClock(), org_id, email_domain=f"{org_id}.test", api_key=f"key-{org_id}")
    return Org(org_id, str(server.make_url("")).rstrip("/"), f"key-{org_id}", users, f"{org_id}.test")


FAILURE_EVENTS = {"socket_event_failed", "agent_login_failed", "unhandled_error"}


def failures_logged(logs: Sequence[Mapping[str, Any]], caplog: Any) -> list[str]:
    """The handlers' own failure events, and the socket stack's ERROR records (an exception that escaped a
    handler, a packet it could not take); other tests' background tasks may log errors of their own meanwhile."""
    out = [f"{e['event']} {e.get('handler', '')}" for e in logs if e.get("event") in FAILURE_EVENTS]
    out += [f"{r.name}: {r.getMessage()[:200]}" for r in caplog.records
            if r.levelno >= logging.ERROR and r.name.startswith(("engineio", "socketio", "aiohttp"))]
    return out


def token(org: Org, local: str, role: str) -> str:
    t, _, _ = issue_token(TEST_SECRET, org.id, org.users[org.email(local)], role, 3600)  # type: ignore[arg-type]
    return t


async def connected_interaction(http: Any, org: Org, agent: AgentClient, email: str) -> tuple[str, str]:
    """An interaction offered to ``agent`` and accepted: (interaction id, offer id)."""
    status, b = await intake(http, org, {"channel": "chat", "queue": "support",
                                         "customer": {"identity": {"type": "email", "value": email}}})
    assert status == 201, b
    while True:
        offer = await agent.wait("offer", timeout=10)
        if offer["interaction"]["id"] == b["id"]:
            return b["id"], offer["offer_id"]


async def offered_interaction(http: Any, org: Org, agent: AgentClient) -> tuple[str, str]:
    status, b = await intake(http, org, {"channel": "chat", "queue": "support",
                                         "customer": {"identity": {"type": "email", "value": "other@x.test"}}})
    assert status == 201, b
    offer = await agent.wait("offer", timeout=10)
    return b["id"], offer["offer_id"]


def test_the_namespaces_handle_every_event_design_names():
    assert DESIGN_AGENT_EVENTS <= set(events_of(AgentNamespace))
    assert DESIGN_CUSTOMER_EVENTS <= set(events_of(CustomerNamespace))
    assert "snapshot" in events_of(SupervisorNamespace)
    assert all(events_of(AgentNamespace)[e] is not None for e in DESIGN_AGENT_EVENTS), "every agent event validates"


async def test_agent_events_refuse_junk_and_foreign_ids_and_the_socket_keeps_working(http, org, agents, server,
                                                                                     pool, redis, caplog):
    other = await second_org(server, pool, redis)
    foreign_agent = AgentClient(other, token(other, "agent4", "agent"))  # the support queue's best skill
    await foreign_agent.connect()
    mine: AgentClient = await agents("agent4")
    try:
        for a in (foreign_agent, mine):
            await a.wait("session")
            assert (await a.call("state:set", {"state": "available"}))["ok"]
        foreign_iid, foreign_offer = await offered_interaction(http, other, foreign_agent)
        iid, offer_id = await connected_interaction(http, org, mine, "fz-sock@x.test")
        assert (await mine.call("offer:accept", {"offer_id": offer_id}))["ok"]
        ids = Ids(iid, org.users[org.email("agent2")], foreign_iid, foreign_offer,
                  other.users[other.email("agent4")])
        # state:set's valid payloads would log the agent out or park it: its refusals are what is fuzzed here
        with structlog.testing.capture_logs() as logs:
            problems = await fuzz(mine.sio, "/agent", events_of(AgentNamespace), ids,
                                  ("state:set", {"state": "available"}), skip_valid={"state:set"})
        # the foreign interaction is untouched, and ours is still connected to us
        status = await redis.hget(keys.interaction(other.id, foreign_iid), "state")
        crashed = failures_logged(logs, caplog)
        assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])
        assert not crashed, crashed[:10]
        assert status in (None, "offered"), status
    finally:
        await foreign_agent.close()


async def test_customer_events_refuse_junk_and_the_chat_keeps_working(org, server, pool, redis, caplog):
    other = await second_org(server, pool, redis)
    sio, refused = await connect(org, "/customer", {"org": org.id})
    assert refused is None, refused
    try:
        start = await sio.call("chat:start", {"name": "Fuzz"}, namespace="/customer", timeout=5)
        assert start["ok"], start
        ids = Ids(start["interaction_id"], org.users[org.email("agent2")], str(uuid.uuid4()), "x",
                  other.users[other.email("agent4")])
        with structlog.testing.capture_logs() as logs:
            # chat:start accepts any well-typed payload (it resumes the chat), chat:end would end it
            problems = await fuzz(sio, "/customer", events_of(CustomerNamespace), ids,
                                  ("message:send", {"text": "still here"}), skip_valid={"chat:start", "chat:end"})
        crashed = failures_logged(logs, caplog)
        assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])
        assert not crashed, crashed[:10]
    finally:
        await sio.disconnect()


async def test_supervisor_events_answer_junk_and_the_socket_keeps_working(org, caplog):
    sio, refused = await connect(org, "/supervisor", {"token": token(org, "supervisor", "supervisor")})
    assert refused is None, refused
    try:
        ids = Ids("x", "x", "x", "x", "x")
        with structlog.testing.capture_logs() as logs:
            problems = []
            for data, _ in payloads(None, ids):
                ack = await sio.call("snapshot", data, namespace="/supervisor", timeout=5)
                p = ack_problem("snapshot", data, ack, must_refuse=False)
                if p:
                    problems.append(p)
            problems += await fuzz(sio, "/supervisor", {}, ids, ("snapshot", None))
        crashed = failures_logged(logs, caplog)
        assert not problems, "\n".join(problems[:40])
        assert not crashed, crashed[:10]
        assert sio.connected
    finally:
        await sio.disconnect()


AUTH_JUNK: list[Any] = [None, "token", 7, [], {}, {"token": None}, {"token": 7}, {"token": ["a"]}, {"token": ""},
                        {"token": "\x00"}, {"token": "x" * 5000}, {"token": "a.b.c"}, {"org": None}, {"org": 7},
                        {"org": ["a"]}, {"org": "\x00"}, {"org": "x" * 5000}, {"org": "no-such-org"},
                        {"org": "ok", "chat_token": 7}, {"org": "ok", "chat_token": "a.b.c"},
                        {"org": "ok", "chat_token": "\x00"}]


async def test_connect_with_junk_auth_is_refused_cleanly(org, caplog):
    problems: list[str] = []
    with structlog.testing.capture_logs() as logs:
        for ns in ("/agent", "/supervisor", "/customer"):
            for auth in AUTH_JUNK:
                if isinstance(auth, dict) and auth.get("org") == "ok":
                    auth = {**auth, "org": org.id}
                sio, refused = await connect(org, ns, auth)
                if refused is None:
                    # only the customer namespace lets an anonymous visitor in, for a real org
                    if not (ns == "/customer" and isinstance(auth, dict) and auth.get("org") == org.id
                            and "chat_token" not in auth):
                        problems.append(f"{ns} {auth!r:.80}: connected")
                    await sio.disconnect()
                    continue
                if not (isinstance(refused, dict) and refused.get("code") in ("unauthorized", "forbidden")):
                    problems.append(f"{ns} {auth!r:.80}: refused with {refused!r:.200}")
    crashed = failures_logged(logs, caplog)
    assert not problems, "\n".join(problems)
    assert not crashed, crashed[:10]


async def test_chat_start_with_a_junk_identity_or_message_is_refused_or_starts_cleanly(org, caplog):
    """Each start on a socket of its own (a second start on one socket resumes the first chat)."""
    starts: list[dict[str, Any]] = []
    for kind in ("phone", "email", "whatsapp", "messenger", "webchat"):
        for value in ("\x00", "a\x00b", "x" * 320, " ", "not a phone", "+1", "+99999999999999999999", "../../etc",
                      "@", "a@", "<script>", "00000000-0000-0000-0000-000000000000"):
            starts.append({"identity": {"type": kind, "value": value}})
    starts += [{"message": v} for v in ("\x00", " ", "x" * 20_000)] + [{"name": v} for v in ("\x00", " ", "x" * 200)]
    problems: list[str] = []
    with structlog.testing.capture_logs() as logs:
        for data in starts:
            sio, refused = await connect(org, "/customer", {"org": org.id})
            assert refused is None, refused
            try:
                ack = await sio.call("chat:start", data, namespace="/customer", timeout=5)
                p = ack_problem("chat:start", data, ack, must_refuse=has_nul(data))
                if p:
                    problems.append(p)
                if isinstance(ack, dict) and ack.get("ok"):
                    sent = await sio.call("message:send", {"text": "hello"}, namespace="/customer", timeout=5)
                    if not sent.get("ok"):
                        problems.append(f"after chat:start {data!r:.80}: message:send answered {sent}")
            finally:
                await sio.disconnect()
    crashed = failures_logged(logs, caplog)
    assert not problems, "\n".join(problems[:40])
    assert not crashed, crashed[:10]


MALFORMED_PACKETS = (
    '42/agent,["state:set", {"state": ',  # truncated JSON
    '42/agent,1[]',  # an event without a name
    '42/agent,6{"a":1}',  # an event that is not an array
    '42/agent,["state:set", "\\ud800"]',  # a lone surrogate
    '42/agent,' + "[" * 5000 + "]" * 5000,  # nested beyond any parser's patience
    '4junk',  # a Socket.IO packet type that does not exist
)


async def _raw_agent_socket(org: Org) -> Any:
    """An engine.io websocket, logged in on /agent by hand, so it can send what no client library would."""
    import aiohttp

    session = aiohttp.ClientSession()
    ws = await session.ws_connect(f"{org.base}/socket.io/?EIO=4&transport=websocket")
    opened = await ws.receive_str(timeout=5)
    assert opened.startswith("0{")
    await ws.send_str("40/agent," + json.dumps({"token": token(org, "agent1", "agent")}))
    while not (msg := await ws.receive_str(timeout=5)).startswith("40/agent,"):
        assert not msg.startswith("44/agent"), msg  # connect_error
    return session, ws


async def test_a_packet_socketio_cannot_read_closes_the_connection_with_one_warning(org, caplog):
    import aiohttp

    for raw in MALFORMED_PACKETS:
        session, ws = await _raw_agent_socket(org)
        try:
            with structlog.testing.capture_logs() as logs:
                await ws.send_str(raw)
                closed = None
                while closed is None:
                    msg = await ws.receive(timeout=5)
                    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                        closed = True
                    elif msg.type == aiohttp.WSMsgType.TEXT and msg.data.startswith("1"):
                        closed = True  # engine.io close packet
            refused = [e for e in logs if e["event"] == "socketio_packet_refused"]
            assert len(refused) == 1, (raw[:40], logs)
            assert not failures_logged(logs, caplog), raw[:40]
        finally:
            await ws.close()
            await session.close()
