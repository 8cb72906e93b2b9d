"""Who may do what: every REST route by every role, the contract's rules by hand, tenants kept apart,
Socket.IO namespaces by role, and agents acting only on their own offers and interactions."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

import pytest
import socketio
from harness import AgentClient, Org, connect_to, intake
from security_creds import Creds, token_for

from web.api import load_modules
from web.routes import api

load_modules()  # every route registers itself on import

ROLES = ("none", "agent", "supervisor", "admin", "integration", "other_admin")
READERS = {"integration", "agent", "supervisor", "admin"}
STAFF = {"supervisor", "admin"}
ADMIN = {"admin"}

# DESIGN.md §4, written out by hand so this test does not just mirror the route declarations.
CONTRACT: dict[tuple[str, str], set[str]] = {
    ("POST", "/api/v1/interactions"): {"integration"},
    ("GET", "/api/v1/interactions"): READERS,
    ("GET", "/api/v1/interactions/{id}"): READERS,
    ("GET", "/api/v1/interactions/{id}/routing"): READERS,
    ("POST", "/api/v1/interactions/{id}/messages"): {"integration"},
    ("DELETE", "/api/v1/interactions/{id}"): {"integration"},
    ("POST", "/api/v1/users"): ADMIN,
    ("PATCH", "/api/v1/users/{id}"): ADMIN,
    ("DELETE", "/api/v1/users/{id}"): ADMIN,
    ("POST", "/api/v1/queues"): ADMIN,
    ("PUT", "/api/v1/queues/{name}"): ADMIN,
    ("DELETE", "/api/v1/queues/{name}"): ADMIN,
    ("POST", "/api/v1/skills"): ADMIN,
    ("DELETE", "/api/v1/skills/{key}"): ADMIN,
    ("POST", "/api/v1/idle-codes"): ADMIN,
    ("DELETE", "/api/v1/idle-codes/{key}"): ADMIN,
    ("POST", "/api/v1/wrap-up-codes"): ADMIN,
    ("DELETE", "/api/v1/wrap-up-codes/{key}"): ADMIN,
    ("GET", "/api/v1/api-keys"): ADMIN,
    ("POST", "/api/v1/api-keys"): ADMIN,
    ("DELETE", "/api/v1/api-keys/{id}"): ADMIN,
    ("POST", "/api/v1/licenses"): ADMIN,
    ("GET", "/api/v1/licenses"): ADMIN,
    ("GET", "/api/v1/licenses/usage"): ADMIN,
    ("GET", "/api/v1/stats/queues"): STAFF,
    ("GET", "/api/v1/stats/agents"): STAFF,
    ("GET", "/api/v1/reports/intervals"): STAFF,
    ("POST", "/api/v1/agents/{id}/state"): STAFF,
    ("POST", "/api/v1/interactions/{id}/move"): STAFF,
    ("GET", "/api/v1/spools"): ADMIN,
    ("POST", "/api/v1/spools/{spool}/retry"): ADMIN,
    ("DELETE", "/api/v1/spools/{spool}/refused"): ADMIN,
}
# Reads of one row that exists in `org`: its own staff get 200 (configuration reads may 404 when unset).
ROW_READS = {"/api/v1/interactions/{id}", "/api/v1/interactions/{id}/routing", "/api/v1/users/{id}",
             "/api/v1/queues/{name}", "/api/v1/customers/{id}"}
PUBLIC_PAGES = ("/", "/agent", "/supervisor", "/admin", "/reports", "/healthz", "/readyz", "/openapi.json", "/metrics")

# Valid bodies, so a cross-tenant attempt is refused for the tenant and not for the shape of the body.
VALID_BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/api/v1/users/{id}"): {"display_name": "Taken Over"},
    ("PUT", "/api/v1/queues/{name}"): {"name": "support", "channels": ["chat"]},
    ("POST", "/api/v1/agents/{id}/state"): {"state": "not_ready", "idle_code": "break"},
    ("POST", "/api/v1/interactions/{id}/move"): {"priority": 9},
    ("POST", "/api/v1/interactions/{id}/messages"): {"text": "from the wrong tenant"},
    ("PATCH", "/api/v1/customers/{id}"): {"name": "Taken Over"},
    ("POST", "/api/v1/customers/{id}/merge"): {"other_id": str(uuid.uuid4())},
}


def chat_body(value: str = "authz@x.test") -> dict[str, Any]:
    return {"channel": "chat", "queue": "sales", "customer": {"identity": {"type": "email", "value": value}},
            "message": {"text": "hello"}}


def _fill(path: str, ids: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        for prefix, key in (("/api/v1/interactions/", "interaction"), ("/api/v1/customers/", "customer"),
                            ("/api/v1/users/", "user"), ("/api/v1/agents/", "agent"),
                            ("/api/v1/api-keys/", "api_key"), ("/api/v1/skills/", "skill"),
                            ("/api/v1/idle-codes/", "idle_code"), ("/api/v1/wrap-up-codes/", "wrap_up_code"),
                            ("/api/v1/webhook-subscriptions/", "subscription")):
            if path.startswith(prefix):
                return ids[key]
        return ids[name]

    return re.sub(r"{(\w+)}", one, path)


PRIVATE = "only_here"  # a queue, skill and codes that exist in `org` alone, so a name cannot hit the other org's own


def real_ids(org: Org, interaction_id: str, customer_id: str, api_key_id: str) -> dict[str, str]:
    return {"interaction": interaction_id, "customer": customer_id, "user": org.users[org.email("agent5")],
            "agent": org.users[org.email("agent4")], "api_key": api_key_id, "skill": PRIVATE,
            "idle_code": PRIVATE, "wrap_up_code": PRIVATE, "subscription": str(uuid.uuid4()),
            "name": PRIVATE, "queue": PRIVATE, "channel": "sms", "org": org.id, "spool": "reports"}


async def _private_config(http, org: Org, creds: Creds) -> str:  # type: ignore[no-untyped-def]
    """Org-unique configuration rows; returns the id of a fresh API key of this org."""
    h = creds.headers("admin")
    for path, body in (("/api/v1/queues", {"name": PRIVATE, "channels": ["chat"]}),
                       ("/api/v1/skills", {"name": PRIVATE}),
                       ("/api/v1/idle-codes", {"code": PRIVATE, "label": "Private"}),
                       ("/api/v1/wrap-up-codes", {"code": PRIVATE, "label": "Private"}),
                       ("/api/v1/api-keys", {"name": "spare"})):
        status, text = await _call(http, org.base, "POST", path, h, body)
        assert status == 201, (path, text)
    return str(json.loads(text)["id"])


def missing_ids() -> dict[str, str]:
    """Ids that exist nowhere: a mutating call with them proves the role got past auth without changing data."""
    gone = str(uuid.uuid4())
    return {"interaction": gone, "customer": gone, "user": gone, "agent": gone, "api_key": gone,
            "subject": gone, "skill": "no_such_skill", "idle_code": "no_such_code", "wrap_up_code": "no_such_code",
            "subscription": gone, "name": "no_such_queue", "queue": "no_such_queue", "channel": "sms",
            "org": "no-such-org", "spool": "reports"}


async def _call(http, base: str, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    kwargs: dict[str, Any] = {"headers": headers}
    if method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = body
    async with http.request(method, base + path, **kwargs) as r:
        return r.status, await r.text()


async def _seed(http, org: Org, pool, value: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    status, body = await intake(http, org, chat_body(value))
    assert status == 201, body
    cid = await pool.fetchval("SELECT customer_id FROM interactions WHERE id=$1::uuid", body["id"])
    return body["id"], str(cid)


def test_declared_roles_follow_the_contract():
    declared = {(s.method, s.path): set(s.roles) if s.roles is not None else None for s in api.specs}
    for route, allowed in CONTRACT.items():
        assert route in declared, f"{route} is in the contract but not served"
        assert declared[route] == allowed, f"{route}: declared {declared[route]}, contract says {allowed}"
    public = {r for r, roles in declared.items() if roles is None}
    assert public <= {("POST", "/api/v1/auth/login")} | {r for r in public if r[1].startswith("/webhooks/")}
    for (method, path), roles in declared.items():
        if roles is not None and method != "GET" and path.startswith(("/api/v1/users", "/api/v1/queues",
                                                                      "/api/v1/api-keys", "/api/v1/licenses")):
            assert roles == ADMIN, f"{method} {path} changes admin configuration but allows {roles}"


async def test_every_route_answers_each_role_as_declared(http, org, other_org, creds: Creds, pool):
    iid, cid = await _seed(http, org, pool, "matrix@x.test")
    real = real_ids(org, iid, cid, await _private_config(http, org, creds))
    gone = missing_ids()
    problems: list[str] = []
    for spec in api.specs:
        if spec.roles is None:
            continue
        allowed = set(spec.roles)
        for role in ROLES:
            headers = creds.headers(role)
            if spec.path == "/api/v1/auth/logout" and role in ("agent", "supervisor", "admin", "other_admin"):
                # logging out revokes the token: use one of its own
                who, local = {"agent": (org, "agent3"), "supervisor": (org, "supervisor"), "admin": (org, "admin"),
                              "other_admin": (other_org, "admin")}[role]
                headers = {"Authorization": f"Bearer {token_for(who, local, role.removeprefix('other_'))}"}
            uses_real = spec.method == "GET" or role == "other_admin"
            path = _fill(spec.path, real if uses_real else gone)
            body = VALID_BODIES.get((spec.method, spec.path), {})
            status, text = await _call(http, org.base, spec.method, path, headers, body)
            where = f"{role:12} {spec.method} {path} -> {status} {text[:160]}"
            if status >= 500:
                problems.append("5xx: " + where)
            elif role == "none":
                if status != 401:
                    problems.append("expected 401: " + where)
            elif role == "other_admin":
                if "admin" not in allowed:
                    if status != 403:
                        problems.append("expected 403: " + where)
                # {channel} and {spool} name one of the caller's own org's, not another org's row
                elif "{" in spec.path and not re.search(r"{(channel|spool)}", spec.path) \
                        and status not in (403, 404, 422):
                    problems.append("cross-tenant access: " + where)
            elif role not in allowed:
                if status != 403:
                    problems.append("expected 403: " + where)
            elif status in (401, 403):
                problems.append("refused an allowed role: " + where)
            elif spec.method == "GET" and spec.path in ROW_READS and status != 200 and role in STAFF:
                problems.append("expected 200 for own org's row: " + where)
    assert not problems, "\n".join(problems)
    # nothing the other tenant tried changed this org
    user = await pool.fetchrow("SELECT display_name, active FROM users WHERE id=$1::uuid", real["user"])
    assert user["active"] and user["display_name"] != "Taken Over"
    row = await pool.fetchrow("SELECT state, priority FROM interactions WHERE id=$1::uuid", iid)
    assert row["state"] in ("queued", "offered") and row["priority"] != 9
    assert await pool.fetchval("SELECT count(*) FROM messages WHERE interaction_id=$1::uuid", iid) == 1
    for table, col in (("skills", "name"), ("idle_codes", "code"), ("wrap_up_codes", "code"), ("queues", "name")):
        n = await pool.fetchval(f"SELECT count(*) FROM {table} WHERE org_id=$1 AND {col}=$2", org.id, PRIVATE)
        assert n == 1, table
    assert await pool.fetchval("SELECT revoked_at FROM api_keys WHERE id=$1::uuid", real["api_key"]) is None


async def test_public_pages_and_health_need_no_credentials_and_carry_secure_headers(http, org):
    for path in (*PUBLIC_PAGES, f"/chat/{org.id}"):
        async with http.get(org.base + path) as r:
            assert r.status == 200, path
            if path in ("/", "/agent", "/supervisor", "/admin", "/reports"):
                assert r.headers["X-Frame-Options"] == "DENY", path
                assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"], path


async def test_integration_key_reads_and_abandons_only_its_org(http, org, other_org, creds: Creds, pool):
    iid, _ = await _seed(http, org, pool, "keys@x.test")
    for role in ("integration", "supervisor", "admin"):
        async with http.get(f"{org.base}/api/v1/interactions/{iid}", headers=creds.headers(role)) as r:
            assert r.status == 200, role
    other = creds.headers("other_integration")
    async with http.get(f"{org.base}/api/v1/interactions/{iid}", headers=other) as r:
        assert r.status == 404
    async with http.delete(f"{org.base}/api/v1/interactions/{iid}", headers=other) as r:
        assert r.status == 404
    assert await pool.fetchval("SELECT state FROM interactions WHERE id=$1::uuid", iid) == "queued"
    async with http.delete(f"{org.base}/api/v1/interactions/{iid}", headers=creds.headers("integration")) as r:
        assert r.status == 200
        assert (await r.json())["state"] == "abandoned"


async def test_listings_never_show_another_orgs_rows(http, org, other_org, creds: Creds, pool):
    mine = await _seed(http, org, pool, "mine@x.test")
    theirs = await _seed(http, other_org, pool, "theirs@x.test")
    mine_marks = [*mine, org.id, org.domain, *org.users.values()]
    their_marks = [*theirs, other_org.id, other_org.domain, *other_org.users.values()]
    their_headers = {"admin": creds.headers("other_admin"), "integration": creds.headers("other_integration")}
    my_headers = {"admin": creds.headers("admin"), "integration": creds.headers("integration")}
    checked = 0
    for spec in api.specs:
        if spec.method != "GET" or spec.roles is None or "{" in spec.path:
            continue
        for role in ("admin", "integration"):
            if role not in spec.roles:
                continue
            for headers, forbidden, who in ((their_headers[role], mine_marks, "other org"),
                                            (my_headers[role], their_marks, "this org")):
                status, text = await _call(http, org.base, "GET", spec.path, headers, None)
                assert status < 500, (spec.path, status, text)
                leaked = [m for m in forbidden if m in text]
                assert not leaked, f"{who}'s {role} listing {spec.path} shows {leaked}"
                checked += 1
    assert checked >= 15
    status, text = await _call(http, org.base, "GET", "/api/v1/interactions", my_headers["integration"], None)
    assert mine[0] in text


async def _connect(
    base: str, namespace: str, auth: dict[str, Any], record: str = ""
) -> tuple[socketio.AsyncClient, Any]:
    """Connect; returns the client and None, or the client and the connect_error data ``{code, message}``."""
    sio = socketio.AsyncClient(reconnection=False)
    if record:
        got: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        sio.got = got  # type: ignore[attr-defined]
        sio.on(record, lambda data: got.done() or got.set_result(data), namespace=namespace)
    return await connect_to(base, namespace, auth, wait_timeout=10, client=sio)


# Another org's admin may watch their own org on /supervisor (the token names the org); never this one.
@pytest.mark.parametrize("namespace,allowed", [("/agent", {"agent"}),
                                               ("/supervisor", {"supervisor", "admin", "other_admin"})])
async def test_socket_namespaces_admit_only_their_roles(org, other_org, creds: Creds, namespace, allowed):
    bad = {"none": {}, "garbage": {"token": "not-a-token"}, "forged": {"token": token_for(org, "admin", "admin")[:-4]}}
    cases: list[tuple[str, dict[str, Any]]] = [(k, v) for k, v in bad.items()]
    cases += [(role, {"token": creds.bearer[role]}) for role in ROLES if role != "none"]
    for role, auth in cases:
        sio, refused = await _connect(org.base, namespace, auth, record="snapshot")
        try:
            if role in allowed:
                assert refused is None, (namespace, role, refused)
                if namespace == "/supervisor":
                    snap = json.dumps(await asyncio.wait_for(sio.got, 5))  # type: ignore[attr-defined]
                    mine = org.users[org.email("agent1")]
                    assert (mine in snap) == (role != "other_admin"), role
            elif role in bad:
                assert refused and refused["code"] == "unauthorized", (namespace, role, refused)
            else:
                assert refused and refused["code"] == "forbidden", (namespace, role, refused)
        finally:
            await sio.disconnect()


async def test_customer_namespace_needs_a_real_org_and_its_own_chat_token(org, other_org):
    sio, refused = await _connect(org.base, "/customer", {})
    assert refused and refused["code"] == "unauthorized"
    sio, refused = await _connect(org.base, "/customer", {"org": "no-such-org"})
    assert refused and refused["code"] == "unauthorized"
    sio, refused = await _connect(org.base, "/customer", {"org": org.id})
    assert refused is None
    ack = await sio.call("chat:start", {"name": "Cleo"}, namespace="/customer", timeout=5)
    await sio.disconnect()
    assert ack["ok"], ack
    # the chat token belongs to its org: another org's widget cannot use it
    sio, refused = await _connect(org.base, "/customer", {"org": other_org.id, "chat_token": ack["chat_token"]})
    assert refused and refused["code"] == "unauthorized"
    sio, refused = await _connect(org.base, "/customer", {"org": org.id, "chat_token": ack["chat_token"] + "x"})
    assert refused and refused["code"] == "unauthorized"
    sio, refused = await _connect(org.base, "/customer", {"org": org.id, "chat_token": ack["chat_token"]})
    assert refused is None
    status = await sio.call("chat:status", None, namespace="/customer", timeout=5)
    await sio.disconnect()
    assert status["ok"] and status["interaction_id"] == ack["interaction_id"]


async def test_an_agent_sees_only_interactions_offered_or_assigned_to_them(http, org, agents, creds: Creds):
    a1 = await agents("agent1")
    await a1.wait("session")
    status, body = await intake(http, org, chat_body("seen@x.test"))
    assert status == 201
    offer = await a1.wait("offer")
    iid = body["id"]
    assert offer["interaction"]["id"] == iid
    for path in (f"/api/v1/interactions/{iid}", f"/api/v1/interactions/{iid}/routing"):
        async with http.get(org.base + path, headers=creds.headers("agent")) as r:
            assert r.status == 200, path
        async with http.get(org.base + path, headers=creds.headers("agent2")) as r:
            assert r.status == 404, path
    ack = await a1.call("offer:accept", {"offer_id": offer["offer_id"]})
    assert ack["ok"], ack
    async with http.get(f"{org.base}/api/v1/interactions", headers=creds.headers("agent")) as r:
        assert iid in [i["id"] for i in (await r.json())["items"]]
    async with http.get(f"{org.base}/api/v1/interactions", headers=creds.headers("agent2")) as r:
        assert iid not in [i["id"] for i in (await r.json())["items"]]


async def test_an_agent_cannot_act_on_another_agents_offer_or_interaction(http, org, agents, pool):
    a1 = await agents("agent1")
    await a1.wait("session")
    status, body = await intake(http, org, chat_body("own@x.test"))
    assert status == 201
    iid = body["id"]
    offer = await a1.wait("offer")
    a2: AgentClient = await agents("agent2")
    await a2.wait("session")
    assert (await a2.call("state:set", {"state": "not_ready", "idle_code": "break"}))["ok"]

    async def refused(event: str, data: dict[str, Any]) -> None:
        ack = await a2.call(event, data)
        assert ack["ok"] is False and ack["error"]["code"], (event, ack)

    await refused("offer:accept", {"offer_id": offer["offer_id"]})
    await refused("offer:reject", {"offer_id": offer["offer_id"], "reason": "not mine"})
    ack = await a1.call("offer:accept", {"offer_id": offer["offer_id"]})
    assert ack == {"ok": True, "interaction_id": iid}, ack
    await a1.wait("interaction:connected")
    await refused("message:send", {"interaction_id": iid, "text": "hijack"})
    await refused("interaction:transfer", {"interaction_id": iid, "queue": "billing"})
    await refused("interaction:transfer", {"interaction_id": iid, "agent_id": org.users[org.email("agent2")]})
    await refused("interaction:wrap_up", {"interaction_id": iid, "code": "resolved"})
    await refused("interaction:end", {"interaction_id": iid})
    row = await pool.fetchrow("SELECT state, agent_id, queue FROM interactions WHERE id=$1::uuid", iid)
    assert row["state"] == "connected" and str(row["agent_id"]) == org.users[org.email("agent1")]
    assert row["queue"] == "sales"
    texts = [r["text"] for r in await pool.fetch("SELECT text FROM messages WHERE interaction_id=$1::uuid", iid)]
    assert "hijack" not in texts
    assert (await a1.call("interaction:end", {"interaction_id": iid}))["ok"]
    await refused("interaction:wrap_up", {"interaction_id": iid, "code": "resolved"})
    assert await pool.fetchval("SELECT state FROM interactions WHERE id=$1::uuid", iid) == "wrap_up"
    assert (await a1.call("interaction:wrap_up", {"interaction_id": iid, "code": "resolved"}))["ok"]
    await asyncio.sleep(0.2)
    row = await pool.fetchrow("SELECT state, wrap_up_code FROM interactions WHERE id=$1::uuid", iid)
    assert (row["state"], row["wrap_up_code"]) == ("completed", "resolved")
    assert not a2.received("offer") and not a2.received("interaction:connected")
    assert json.dumps(a2.received("message")) == "[]"
