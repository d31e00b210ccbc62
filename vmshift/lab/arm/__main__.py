"""`python -m vmshift.lab.arm`: the lab's ARM simulator and DNS server, started by `vmshift lab up`.

Secrets come from the environment, never argv: VMSHIFT_ARM_CLIENT_SECRET (the lab app's secret),
VMSHIFT_ARM_ADMIN_SECRET (the lab's administrator app, Owner of the subscription; none: no such app),
VMSHIFT_STORAGE_KEY_<ACCOUNT UPPER> (Azurite's keys for the seeded accounts), and optionally
VMSHIFT_ARM_FAULTS (a fault plan, the JSON that POST /_lab/faults takes).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import socket
import sys
import threading
import time
from pathlib import Path

import uvicorn

from vmshift.lab.arm.app import build_app
from vmshift.lab.arm.dns import PrivateZoneResolver, start_dns
from vmshift.lab.arm.faults import FaultPlan, Faults
from vmshift.lab.arm.seed import AzureSpec, seed
from vmshift.lab.arm.simulator import Settings, Simulator
from vmshift.lab.arm.store import Store

log = logging.getLogger("vmshift.lab.arm")


class MissingSecret(RuntimeError):
    """The launcher did not pass a secret the simulator needs."""


def _signing_key(folder: Path) -> bytes:
    """The lab's token and grant signing key, kept so tokens stay valid across a restart."""
    path = folder / "signing.key"
    if not path.exists():
        path.write_bytes(secrets.token_bytes(32))
        path.chmod(0o600)
    return path.read_bytes()


def _write_ready(path: Path, content: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(content))
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vmshift.lab.arm", description=__doc__.splitlines()[0])
    parser.add_argument("--lab-dir", type=Path, required=True)
    parser.add_argument("--spec", type=Path, required=True, help="the lab spec; its `azure` section seeds ARM")
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--ca-file", type=Path, help="the lab CA, to reach Azurite (default: ca.pem beside --cert)")
    parser.add_argument("--azurite-endpoint", help="https://127.0.0.1:P, Azurite's blob endpoint")
    parser.add_argument("--ready-file", type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--dns-port", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    client_secret = os.environ.get("VMSHIFT_ARM_CLIENT_SECRET")
    if not client_secret:
        raise MissingSecret("set VMSHIFT_ARM_CLIENT_SECRET to the lab app's client secret")
    spec = AzureSpec.model_validate(json.loads(args.spec.read_text())["azure"])
    folder = args.lab_dir / "arm"
    folder.mkdir(parents=True, exist_ok=True)
    ca_file = args.ca_file or args.cert.parent / "ca.pem"
    keys = {a.name: os.environ[f"VMSHIFT_STORAGE_KEY_{a.name.upper()}"] for a in spec.storage_accounts
            if f"VMSHIFT_STORAGE_KEY_{a.name.upper()}" in os.environ}
    settings = Settings(
        tenant_id=spec.tenant_id, client_id=spec.client_id, subscription_id=spec.subscription_id,
        subscription_name=spec.subscription_name,
        other_subscriptions={s.subscription_id: s.subscription_name for s in spec.subscriptions},
        client_secret=client_secret, regions=spec.regions, data_dir=folder,
        ca_file=ca_file if ca_file.exists() else None, azurite_endpoint=args.azurite_endpoint,
        storage_keys=keys, signing_key=_signing_key(folder),
        admin_client_id=spec.admin_client_id, admin_client_secret=os.environ.get("VMSHIFT_ARM_ADMIN_SECRET", ""),
    )
    simulator = Simulator(settings, Store(folder / "arm.sqlite"), spec.appliance_vnet_ids())
    seed(simulator, spec)
    faults = Faults(FaultPlan.model_validate_json(os.environ["VMSHIFT_ARM_FAULTS"])
                    if os.environ.get("VMSHIFT_ARM_FAULTS") else None)

    dns = start_dns(PrivateZoneResolver(simulator.store, lambda: simulator.appliance_vnet_ids), args.host,
                    args.dns_port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    port = sock.getsockname()[1]
    endpoint = f"https://{args.host}:{port}"
    server = uvicorn.Server(uvicorn.Config(
        build_app(simulator, faults), ssl_certfile=str(args.cert), ssl_keyfile=str(args.key),
        log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2,
    ))

    def announce() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        ready = {"endpoint": endpoint, "authority": endpoint, "tenant_id": spec.tenant_id,
                 "client_id": spec.client_id, "subscription_id": spec.subscription_id,
                 "subscriptions": [s.subscription_id for s in spec.all_subscriptions()],
                 "admin_client_id": spec.admin_client_id, "dns": {"host": dns.host, "port": dns.port}}
        if args.ready_file and server.started:
            _write_ready(args.ready_file, ready)
        log.info("ARM simulator at %s, DNS at %s:%s", endpoint, dns.host, dns.port)

    threading.Thread(target=announce, daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        dns.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
