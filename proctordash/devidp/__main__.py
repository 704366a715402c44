"""`python -m proctordash.devidp --host 127.0.0.1 --port 8200 [--config FILE|-] [--state-dir var/devidp] [--setup-only]`

Starts the development OpenID Connect provider: generates its RSA signing key once (state dir, mode 600), migrates
its own SQLite database, applies the config document (people, client registrations) and serves until stopped.
The issuer is http://HOST:PORT/o unless --issuer says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _signing_key(state_dir: Path) -> None:
    path = state_dir / "signing-key.pem"
    if path.exists():
        return
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.touch(mode=0o600)
    path.write_bytes(pem)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m proctordash.devidp", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8200)
    parser.add_argument("--config", help="JSON document with people and clients (see setup.py); - reads stdin")
    parser.add_argument("--setup-only", action="store_true", help="migrate and apply --config, then exit")
    parser.add_argument("--state-dir", type=Path, default=Path("var/devidp"))
    parser.add_argument("--issuer", default="")
    args = parser.parse_args(argv)

    args.state_dir.mkdir(parents=True, exist_ok=True)
    _signing_key(args.state_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "proctordash.devidp.settings"
    os.environ["DEVIDP_STATE_DIR"] = str(args.state_dir.resolve())
    os.environ["DEVIDP_ISSUER"] = args.issuer or f"http://{args.host}:{args.port}/o"
    secret = args.state_dir / "django-secret"
    if not secret.exists():
        import secrets

        secret.touch(mode=0o600)
        secret.write_text(secrets.token_urlsafe(50))
    os.environ["DEVIDP_SECRET_KEY"] = secret.read_text().strip()

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    if args.config:
        from proctordash.devidp import setup

        text = sys.stdin.read() if args.config == "-" else Path(args.config).read_text()
        setup.apply(json.loads(text))
    if args.setup_only:
        return
    print(f"Development identity provider: issuer {os.environ['DEVIDP_ISSUER']}", file=sys.stderr, flush=True)
    call_command("runserver", f"{args.host}:{args.port}", use_reloader=False, use_threading=True,
                 skip_checks=True)


if __name__ == "__main__":
    main()
