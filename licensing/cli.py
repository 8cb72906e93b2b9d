"""Vendor commands: ``license keygen``, ``license issue`` and ``license verify``.

``switchboard/cli.py`` mounts them with ``add_commands(sub)`` and dispatches ``command == "license"``
to ``run(args)``; ``python -m licensing.cli license ...`` runs them standalone.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from licensing.documents import (
    License,
    LicenseError,
    generate_keypair,
    parse_datetime,
    sign_license,
    verify_license,
)

PRIVATE_KEY_NAME = "vendor_private.pem"
PUBLIC_KEY_NAME = "vendor_public.pem"


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``license`` command and its subcommands to a parent parser's subparsers."""
    parser = subparsers.add_parser("license", help="issue and verify signed license documents (vendor)")
    sub = parser.add_subparsers(dest="license_command", required=True)

    keygen = sub.add_parser("keygen", help="make a new Ed25519 vendor key pair")
    keygen.add_argument("--out-dir", type=Path, default=Path("."), help="where to write the two PEM files")
    keygen.add_argument("--force", action="store_true", help="overwrite existing key files")

    issue = sub.add_parser("issue", help="sign a license document")
    issue.add_argument("--org", required=True)
    issue.add_argument("--model", required=True, choices=["concurrent", "named"])
    issue.add_argument("--seats", required=True, type=int)
    issue.add_argument("--period", default="month", choices=["month", "week", "day"])
    issue.add_argument("--timezone", default="UTC", help="IANA zone of the measurement calendar")
    issue.add_argument("--valid-from", help="ISO datetime with offset (default: now)")
    issue.add_argument("--valid-until", required=True, help="ISO datetime with offset")
    issue.add_argument("--private-key", required=True, type=Path)
    issue.add_argument("--license-id", help="default: a new UUID")
    issue.add_argument("--out", type=Path, help="default: standard output")

    verify = sub.add_parser("verify", help="check a document's signature, org and dates")
    verify.add_argument("file", type=Path)
    verify.add_argument("--public-key", required=True, type=Path)
    verify.add_argument("--org", help="the org the license must be for (default: any)")
    verify.add_argument("--at", help="check validity at this ISO datetime instead of now")


def run(args: argparse.Namespace) -> int:
    """Run a parsed ``license`` command; returns the process exit status."""
    commands = {"keygen": _keygen, "issue": _issue, "verify": _verify}
    return commands[args.license_command](args)


def _keygen(args: argparse.Namespace) -> int:
    out_dir: Path = args.out_dir
    private_path, public_path = out_dir / PRIVATE_KEY_NAME, out_dir / PUBLIC_KEY_NAME
    if not args.force and (private_path.exists() or public_path.exists()):
        print(f"error: key files already exist in {out_dir} (use --force to replace)", file=sys.stderr)
        return 1
    out_dir.mkdir(parents=True, exist_ok=True)
    private_pem, public_pem = generate_keypair()
    # The private key never becomes readable by others, not even for an instant.
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private_pem)
    public_path.write_bytes(public_pem)
    print(f"wrote {private_path} (keep it secret) and {public_path} (give it to servers)")
    return 0


def _issue(args: argparse.Namespace) -> int:
    try:
        valid_from = (
            parse_datetime(args.valid_from) if args.valid_from else datetime.now(UTC).replace(microsecond=0)
        )
        lic = License(
            license_id=args.license_id or str(uuid.uuid4()),
            org_id=args.org,
            model=args.model,
            seats=args.seats,
            period=args.period,
            timezone=args.timezone,
            valid_from=valid_from,
            valid_until=parse_datetime(args.valid_until),
        )
        text = sign_license(lic, args.private_key.read_bytes())
    except (ValidationError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.out:
        args.out.write_text(text)
        print(f"wrote license {lic.license_id} to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _verify(args: argparse.Namespace) -> int:
    try:
        now = parse_datetime(args.at).timestamp() if args.at else time.time()
        lic = verify_license(args.file.read_text(), args.public_key.read_bytes(), args.org, now)
    except LicenseError as exc:
        print(f"{exc.code}: {exc.message}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"ok": True, "license": lic.model_dump(mode="json")}, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m licensing.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    add_commands(sub)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
