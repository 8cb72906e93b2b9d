"""Schemathesis against the live /openapi.json, as every role: no 5xx for any input, every answer as documented.

Each role runs the schemathesis CLI in its own process (the server lives in this test's event loop, so the
runs must not block it). Path parameters are pinned to real rows so the handlers behind the 404s run too.
The admin run gets an organisation of its own, since it deletes and revokes what it finds.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path

import jsonschema_rs
from harness import Org, intake
from security_creds import make_org, token_for

from web.api import load_modules
from web.routes import api

load_modules()  # every route registers itself on import

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "security"
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
MAX_EXAMPLES = 15
SEED = 20261125


async def test_openapi_document_is_valid_openapi_31(http, server):
    async with http.get(str(server.make_url("/openapi.json"))) as r:
        assert r.status == 200
        doc = await r.json()
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"] and doc["info"]["version"]
    op_ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(op_ids) == len(set(op_ids)), "operationIds must be unique"
    schemas = doc["components"]["schemas"]
    for name, schema in schemas.items():
        assert jsonschema_rs.meta.is_valid(schema), f"components/schemas/{name} is not valid JSON Schema"
    text = json.dumps(doc)
    for ref in set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', text)):
        assert ref in schemas, f"dangling $ref to {ref}"
    for path, item in doc["paths"].items():
        declared = set(re.findall(r"{(\w+)}", path))
        for method, op in item.items():
            assert method in ("get", "post", "put", "patch", "delete")
            assert op["responses"], f"{method} {path} documents no response"
            in_path = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert in_path == declared, f"{method} {path}: path parameters {in_path} != {declared}"
            for code, resp in op["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d", code) and resp["description"]
                if code == "204":
                    assert "content" not in resp
    registered = {(s.method.lower(), s.path) for s in api.specs}
    documented = {(m, p) for p, item in doc["paths"].items() for m in item}
    assert registered == documented


def _pinned_parameters(org: Org, interaction_id: str, customer_id: str) -> dict[str, dict[str, str]]:
    """Real identifiers for every templated path, so generated cases reach past the 404."""
    by_name = {"org": org.id, "channel": "sms", "queue": "sales", "name": "support"}
    by_path = {
        "/api/v1/users/{id}": org.users[org.email("agent5")],
        "/api/v1/agents/{id}/state": org.users[org.email("agent4")],
        "/api/v1/skills/{key}": "spanish",
        "/api/v1/idle-codes/{key}": "meeting",
        "/api/v1/wrap-up-codes/{key}": "escalated",
    }
    pinned: dict[str, dict[str, str]] = {}
    for spec in api.specs:
        names = re.findall(r"{(\w+)}", spec.path)
        if not names:
            continue
        values: dict[str, str] = {}
        for n in names:
            if spec.path in by_path:
                values[n] = by_path[spec.path]
            elif n in by_name:
                values[n] = by_name[n]
            elif spec.path.startswith("/api/v1/interactions/"):
                values[n] = interaction_id
            elif spec.path.startswith("/api/v1/customers/"):
                values[n] = customer_id
        if values:
            pinned[spec.path] = values
    return pinned


def _config(pinned: dict[str, dict[str, str]]) -> str:
    out = []
    for path, values in sorted(pinned.items()):
        params = ", ".join(f'"path.{k}" = {json.dumps(v)}' for k, v in values.items())
        out.append(f"[[operations]]\ninclude-path = {json.dumps(path)}\nparameters = {{ {params} }}\n")
    return "\n".join(out)


async def _seed_data(http, org: Org, pool) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    status, body = await intake(http, org, {"channel": "chat", "queue": "sales", "message": {"text": "hi"},
                                            "customer": {"identity": {"type": "email", "value": "st@x.test"}}})
    assert status == 201, body
    cid = await pool.fetchval("SELECT customer_id FROM interactions WHERE id=$1::uuid", body["id"])
    return body["id"], str(cid)


def _outside_role(role: str) -> str:
    """Operations this role may not call: their 401/403 answers belong to the authorization matrix test."""
    ids = sorted(f"{s.method.lower()}_{s.handler.__name__}" for s in api.specs
                 if s.roles is not None and role not in s.roles)
    return "^(" + "|".join(re.escape(i) for i in ids) + ")$"


async def _run(role: str, base: str, bearer: str, config: Path, report: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS), "--config-file", str(config), "run", f"{base}/openapi.json",
        "-H", f"Authorization: Bearer {bearer}",
        "--checks", CHECKS, "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED),
        "--phases", "examples,coverage,fuzzing", "--workers", "1", "--no-shrink", "--request-timeout", "10",
        # logging out would revoke the token mid-run; the logout route has its own tests
        "--exclude-path", "/api/v1/auth/logout", "--exclude-operation-id-regex", _outside_role(role),
        "--report", "ndjson", "--report-ndjson-path", str(report),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=config.parent,
        env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_WAIT_FOR_SCHEMA": "10"},
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 300)
    return int(proc.returncode or 0), out.decode(errors="replace")


async def test_schemathesis_as_every_role_finds_no_5xx_and_no_schema_drift(http, server, org, pool, redis, tmp_path):
    admin_org = await make_org(server, pool, redis)
    runs = {}
    for role_org in (org, admin_org):
        iid, cid = await _seed_data(http, role_org, pool)
        cfg = tmp_path / f"{role_org.id}.toml"
        cfg.write_text(_config(_pinned_parameters(role_org, iid, cid)))
        runs[role_org.id] = cfg
    roles = {
        "integration": (org, org.api_key),
        "agent": (org, token_for(org, "agent1", "agent")),
        "supervisor": (org, token_for(org, "supervisor", "supervisor")),
        "admin": (admin_org, token_for(admin_org, "admin", "admin")),
    }
    results = await asyncio.gather(*(
        _run(role, o.base, bearer, runs[o.id], tmp_path / f"{role}.ndjson") for role, (o, bearer) in roles.items()
    ))
    results = list(results)
    for i, (role, (o, bearer)) in enumerate(roles.items()):
        rc, out = results[i]
        if rc != 0 and "AST constructor recursion depth mismatch" in out and "FAILURES" not in out:
            # CPython 3.11's ast.parse is not thread-safe (SystemError inside hypothesis's repr of a
            # strategy): the tool, not the API; one worker per run avoids it, a rerun covers the rest
            results[i] = await _run(role, o.base, bearer, runs[o.id], tmp_path / f"{role}-again.ndjson")
    summary: dict[str, object] = {}
    failed = []
    for (role, _), (rc, out) in zip(roles.items(), results, strict=True):
        m = re.search(r"(\d+) generated", out)
        summary[role] = {"exit": rc, "cases": int(m.group(1)) if m else None}
        if rc != 0:
            failed.append(f"--- {role} (exit {rc}) ---\n{_failures(out)}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    total = sum(int(v["cases"] or 0) for v in summary.values())  # type: ignore[index]
    (ARTIFACTS / "schemathesis.json").write_text(json.dumps({"roles": summary, "cases": total}, indent=2))
    assert not failed, "\n".join(failed)
    assert total > 1000, summary


def _failures(out: str) -> str:
    start = out.find("FAILURES")
    end = out.find("WARNINGS")
    return out[start:end] if start >= 0 else out[-4000:]
