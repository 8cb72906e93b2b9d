import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "licensing.cli", "license", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )


def test_keygen_issue_verify_round_trip(tmp_path):
    assert cli("keygen", "--out-dir", tmp_path / "keys", cwd=tmp_path).returncode == 0
    private, public = tmp_path / "keys" / "vendor_private.pem", tmp_path / "keys" / "vendor_public.pem"
    assert private.stat().st_mode & 0o077 == 0

    issued = cli(
        "issue", "--org", "acme", "--model", "named", "--seats", "50", "--period", "week",
        "--timezone", "America/Los_Angeles", "--valid-from", "2026-11-01T00:00:00-07:00",
        "--valid-until", "2027-11-01T00:00:00-07:00", "--private-key", private,
        "--license-id", "lic-1", "--out", tmp_path / "acme.json",
        cwd=tmp_path,
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr

    verified = cli("verify", tmp_path / "acme.json", "--public-key", public, "--org", "acme",
                   "--at", "2026-12-01T00:00:00Z", cwd=tmp_path)  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    out = json.loads(verified.stdout)
    assert out["ok"] is True
    assert out["license"]["license_id"] == "lic-1"
    assert (out["license"]["seats"], out["license"]["period"]) == (50, "week")


def test_verify_reports_the_refusal_code(tmp_path):
    cli("keygen", "--out-dir", tmp_path, cwd=tmp_path)
    cli("issue", "--org", "acme", "--model", "concurrent", "--seats", "5",
        "--valid-from", "2026-01-01T00:00:00Z", "--valid-until", "2026-02-01T00:00:00Z",
        "--private-key", tmp_path / "vendor_private.pem", "--out", tmp_path / "l.json",
        cwd=tmp_path)  # fmt: skip
    public = tmp_path / "vendor_public.pem"
    wrong = cli("verify", tmp_path / "l.json", "--public-key", public, "--org", "globex",
                "--at", "2026-01-15T00:00:00Z", cwd=tmp_path)  # fmt: skip
    assert wrong.returncode == 1 and wrong.stderr.startswith("license_wrong_org")
    expired = cli("verify", tmp_path / "l.json", "--public-key", public, cwd=tmp_path)
    assert expired.returncode == 1 and expired.stderr.startswith("license_expired")


def test_keygen_refuses_to_overwrite_keys(tmp_path):
    assert cli("keygen", "--out-dir", tmp_path, cwd=tmp_path).returncode == 0
    assert cli("keygen", "--out-dir", tmp_path, cwd=tmp_path).returncode == 1


def test_issue_rejects_seats_below_one(tmp_path):
    cli("keygen", "--out-dir", tmp_path, cwd=tmp_path)
    bad = cli("issue", "--org", "acme", "--model", "named", "--seats", "0",
              "--valid-until", "2030-01-01T00:00:00Z", "--private-key", tmp_path / "vendor_private.pem",
              cwd=tmp_path)  # fmt: skip
    assert bad.returncode == 1 and "seats" in bad.stderr


def test_commands_mount_on_a_parent_parser():
    import argparse

    from licensing.cli import add_commands

    parser = argparse.ArgumentParser(prog="switchboard")
    sub = parser.add_subparsers(dest="command")
    add_commands(sub)
    args = parser.parse_args(["license", "verify", "x.json", "--public-key", "k.pem"])
    assert (args.command, args.license_command, args.org) == ("license", "verify", None)
