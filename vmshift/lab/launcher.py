"""`vmshift lab up/status/down`: the lab's servers on loopback, described in lab.json and lab.env."""

from __future__ import annotations

import base64
import json
import os
import secrets
import ssl
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import requests

from vmshift.lab import process
from vmshift.lab.arm.storage.models import AZURITE_ACCOUNTS_FILE
from vmshift.lab.ca import LabCertificates, ensure_certificates
from vmshift.lab.guests.catalog import guest_image
from vmshift.lab.guests.disk_image import MIB
from vmshift.lab.postgres import database_url, postgres_healthy, start_postgres
from vmshift.lab.prefect_server import client_environment, prefect_healthy, start_prefect
from vmshift.lab.process import PartFailed, PartProcess
from vmshift.lab.spec import LabSpec, LabSpecInvalid, VCenterSpec, load_spec
from vmshift.lab.vcsim_build import build_vcsim
from vmshift.vsphere.connection import vcenter_env_key

PROJECT_ROOT = Path(__file__).resolve().parents[2]
AZURITE_WRAPPER = Path(__file__).with_name("azurite_accounts.js")
DEFAULT_ACCOUNT = "vmshiftlab"  # the lone storage account of a spec without an Azure side
PARTS = ("vcenter", "azurite", "arm", "postgres", "prefect", "worker")
READY_TIMEOUT_S = 60.0
VM_READY_S = 0.5  # more time to come up per VM of a vCenter's inventory
HEALTH_TIMEOUT_S = 5.0
SECRET_FIELDS = (
    ("vcenter", "password"), ("azurite", "accounts"), ("arm", "client_secret"), ("arm", "admin_client_secret"),
    ("prefect", "auth_string"),
)
VCENTER_FIELDS = ("URL", "USER", "PASSWORD", "DATACENTER")


def lab_dir() -> Path:
    return Path(os.environ.get("VMSHIFT_LAB_DIR", PROJECT_ROOT / ".lab")).resolve()


def up(
    folder: Path, spec_path: Path | None = None, cache_dir: Path | None = None, with_prefect: bool = False
) -> dict:
    """Bring every part up; a no-op for parts already running. Nothing is left half-started on failure."""
    spec = load_spec(spec_path)
    if _all_running(folder) and (folder / "lab.json").exists():
        current = status(folder)
        if current["healthy"] and (not with_prefect or "prefect" in current):
            return current
    folder.mkdir(parents=True, exist_ok=True)
    certs = ensure_certificates(folder / "ca")
    credentials = _credentials(folder, spec)
    lab: dict = {"ca_file": str(certs.ca_file)}
    (folder / "spec.json").write_text(spec.model_dump_json(exclude_none=True))
    cache_dir = cache_dir or PROJECT_ROOT / ".cache"
    try:
        lab["vcenters"] = {vcenter.name: _start_vcenter(folder, index, vcenter, credentials, certs, cache_dir)
                           for index, vcenter in enumerate(spec.all_vcenters)}
        lab["vcenter"] = next(iter(lab["vcenters"].values()))
        lab["azurite"] = _start_azurite(folder, credentials, certs) | {"cache_account": _cache_account(spec)}
        if spec.azure is not None:
            arm, dns_ = _start_arm(folder, credentials, certs, lab["azurite"])
            lab["arm"], lab["dns"] = arm, dns_
        if with_prefect:
            lab |= start_prefect_server(folder)
    except PartFailed:
        down(folder)
        raise
    _write_lab(folder, lab)
    return status(folder)


def status(folder: Path) -> dict:
    """lab.json with each part's health asked again now."""
    try:
        lab = json.loads((folder / "lab.json").read_text())
    except FileNotFoundError:
        return {"healthy": False, "error": f"no lab at {folder}; run `vmshift lab up`"}
    checks: dict[str, Callable[[dict, str], bool]] = {
        "vcenter": lambda part, ca: _https_answers(part["url"], ca),
        "azurite": lambda part, ca: _https_answers(part["blob_endpoint"].format(account=""), ca),
        "arm": lambda part, ca: _https_answers(part["endpoint"], ca),
        "dns": lambda part, ca: _dns_answers(part["host"], part["port"]),
        "postgres": lambda part, ca: postgres_healthy(folder, part),
        "prefect": lambda part, ca: prefect_healthy(part["api_url"], part["auth_string"]),
    }
    for name, check in checks.items():
        if name in lab and not (name == "vcenter" and "vcenters" in lab):  # checked among the vCenters below
            running = lab_part(folder, "arm" if name == "dns" else name).pid() is not None
            lab[name]["healthy"] = running and check(lab[name], lab["ca_file"])
    for index, vcenter in enumerate(lab.get("vcenters", {}).values()):
        running = lab_part(folder, vcenter_part(index)).pid() is not None
        vcenter["healthy"] = running and checks["vcenter"](vcenter, lab["ca_file"])
    if "vcenters" in lab:
        lab["vcenter"] = next(iter(lab["vcenters"].values()))
    lab["healthy"] = all(lab[name]["healthy"] for name in checks if name in lab) and all(
        vcenter["healthy"] for vcenter in lab.get("vcenters", {}).values())
    return lab


def down(folder: Path) -> list[str]:
    """Stop every part by its PID file; returns the names of those that were running."""
    stopped = [name for name in reversed(_parts(folder)) if process.stop(lab_part(folder, name))]
    (folder / "lab.json").unlink(missing_ok=True)
    return stopped


def start_prefect_server(folder: Path) -> dict:
    """The Prefect server and its PostgreSQL, as lab parts of `folder`: `{"postgres": ..., "prefect": ...}`."""
    postgres = start_postgres(folder, lab_part(folder, "postgres"))
    return {"postgres": postgres,
            "prefect": start_prefect(folder, lab_part(folder, "prefect"), database_url(folder, postgres))}


@contextmanager
def running_prefect_server(folder: Path) -> Iterator[dict]:
    """A Prefect server of `folder` for the length of the block (tests, benchmarks): its lab.json entry."""
    try:
        yield start_prefect_server(folder)["prefect"]
    finally:
        stop_prefect_server(folder)


def stop_prefect_server(folder: Path) -> None:
    for name in ("prefect", "postgres"):
        process.stop(lab_part(folder, name))


def masked(lab: dict) -> dict:
    """lab.json with its credentials masked: output is copied into tickets and chat, keys should not be."""
    shown = json.loads(json.dumps(lab))
    for part, field in SECRET_FIELDS:
        if field in shown.get(part, {}):
            value = shown[part][field]
            shown[part][field] = {k: "***" for k in value} if isinstance(value, dict) else "***"
    for vcenter in shown.get("vcenters", {}).values():
        vcenter["password"] = "***"
    return shown


def lab_env(lab: dict) -> dict[str, str]:
    """The environment through which the product reaches the lab: configuration, no lab-only code paths."""
    env = {"VMSHIFT_CA_FILE": lab["ca_file"]}
    if "vcenter" in lab:
        vcenter = lab["vcenter"]
        env |= {f"VMSHIFT_VCENTER_{field}": vcenter[field.lower()] for field in VCENTER_FIELDS}
        if "name" in vcenter:
            env["VMSHIFT_VCENTER_NAME"] = vcenter["name"]
    if len(lab.get("vcenters", {})) > 1:
        # Several vCenters: each under its own key (VCenterConfig.from_env(name) reads them).
        env["VMSHIFT_VCENTERS"] = ",".join(lab["vcenters"])
        for name, vcenter in lab["vcenters"].items():
            env |= {f"VMSHIFT_VCENTER_{vcenter_env_key(name)}_{field}": vcenter[field.lower()]
                    for field in VCENTER_FIELDS}
    if "azurite" in lab:
        env["VMSHIFT_BLOB_ENDPOINT"] = lab["azurite"]["blob_endpoint"]
        env["VMSHIFT_CACHE_ACCOUNT"] = lab["azurite"]["cache_account"]
        for account, key in lab["azurite"]["accounts"].items():
            env[f"VMSHIFT_STORAGE_KEY_{account.upper()}"] = key
    if "arm" in lab:
        arm = lab["arm"]
        env |= {
            "AZURE_TENANT_ID": arm["tenant_id"],
            "AZURE_CLIENT_ID": arm["client_id"],
            "AZURE_CLIENT_SECRET": arm["client_secret"],
            "AZURE_AUTHORITY_HOST": arm["authority"],
            "AZURE_SUBSCRIPTION_ID": arm["subscription_id"],
            "VMSHIFT_ARM_ENDPOINT": arm["endpoint"],
        }
    if "prefect" in lab:
        env |= client_environment(lab["prefect"])
    if "dns" in lab:
        env["VMSHIFT_DNS_SERVERS"] = f"{lab['dns']['host']}:{lab['dns']['port']}"
    return env


def lab_part(folder: Path, name: str) -> PartProcess:
    """A lab part of `folder`: its PID file under run/, its log under logs/."""
    return PartProcess(name, folder / "run" / f"{name}.pid", folder / "logs" / f"{name}.log")


def vcenter_part(index: int) -> str:
    """The lab part of the spec's vCenter number `index` (from 0): `vcenter`, then `vcenter-2`, `vcenter-3`..."""
    return "vcenter" if index == 0 else f"vcenter-{index + 1}"


def _parts(folder: Path) -> list[str]:
    """Every part of the lab, in start order: the fixed ones and as many vCenters as it runs."""
    more = sorted((path.stem for path in (folder / "run").glob("vcenter-*.pid")), key=lambda n: int(n.split("-")[1]))
    return [PARTS[0], *more, *PARTS[1:]]


def _all_running(folder: Path) -> bool:
    return all(lab_part(folder, name).pid() is not None for name in _parts(folder)
               if (folder / "run" / f"{name}.pid").exists())


def _cache_account(spec: LabSpec) -> str:
    """The account a replication goes to when none is named: the spec's first general-purpose v2 account."""
    if spec.azure is None:
        return DEFAULT_ACCOUNT
    v2 = [account.name for account in spec.azure.storage_accounts if account.kind == "StorageV2"]
    return (v2 or [spec.azure.storage_accounts[0].name])[0]


def _credentials(folder: Path, spec: LabSpec) -> dict:
    """Throwaway lab credentials, made once per lab folder so that restarts keep them."""
    path = folder / "credentials.json"
    credentials = json.loads(path.read_text()) if path.exists() else {}
    changed = not credentials
    if not credentials:
        accounts = [account.name for account in spec.azure.storage_accounts] if spec.azure else [DEFAULT_ACCOUNT]
        credentials = {
            "vcenter_password": secrets.token_urlsafe(18),
            "arm_client_secret": secrets.token_urlsafe(30),
            "storage_keys": {name: base64.b64encode(secrets.token_bytes(64)).decode() for name in accounts},
        }
    if "arm_admin_secret" not in credentials:  # also a lab folder from before the administrator app
        credentials["arm_admin_secret"] = secrets.token_urlsafe(30)
        changed = True
    # Each further vCenter has a password of its own, as separate vCenters do.
    others = credentials.setdefault("vcenter_passwords", {})
    missing = [vcenter.name for vcenter in spec.all_vcenters[1:] if vcenter.name not in others]
    others |= {name: secrets.token_urlsafe(18) for name in missing}
    if changed or missing:
        path.write_text(json.dumps(credentials))
        path.chmod(0o600)
    return credentials


def _start_vcenter(
    folder: Path, index: int, vcenter: VCenterSpec, credentials: dict, certs: LabCertificates, cache_dir: Path
) -> dict:
    """The spec's vCenter number `index`: a vcsim of its own, with its inventory, state folder and password."""
    name = vcenter_part(index)
    part = lab_part(folder, name)
    ready_file = folder / "run" / f"{name}.ready"
    password = credentials["vcenter_password"] if index == 0 else credentials["vcenter_passwords"][vcenter.name]
    if part.pid() is None:
        binary = build_vcsim(cache_dir)
        ready_file.unlink(missing_ok=True)
        spec_file = folder / f"{name}-spec.json"
        spec_file.write_text(json.dumps({"vcenter": _with_guest_images(vcenter, cache_dir)}))
        process.start(
            part,
            [str(binary), "-spec", str(spec_file), "-listen", "127.0.0.1:0",
             "-tls-cert", str(certs.cert_file), "-tls-key", str(certs.key_file),
             "-state-dir", str(folder / name), "-ready-file", str(ready_file)],
            {"VMSHIFT_VCSIM_PASSWORD": password},
        )
    # A 500-VM estate takes vcsim a while to create, VM by VM through its own API.
    ready = process.wait_ready_file(part, ready_file, READY_TIMEOUT_S + len(vcenter.vms) * VM_READY_S)
    return {"name": vcenter.name, **ready, "user": vcenter.user, "password": password,
            "datacenter": vcenter.datacenter}


def _with_guest_images(vcenter: VCenterSpec, cache_dir: Path) -> dict:
    """The vCenter's spec as vcsim reads it: each disk that names a guest image gets the built image's path."""
    raw = vcenter.model_dump(mode="json", exclude_none=True)
    for vm, vm_raw in zip(vcenter.vms, raw["vms"], strict=True):
        for index, (disk, disk_raw) in enumerate(zip(vm.disks, vm_raw["disks"], strict=True)):
            if disk.image is None:
                continue
            image = guest_image(disk.image, cache_dir)
            if image.stat().st_size > disk.capacity_mib * MIB:
                raise LabSpecInvalid(
                    f"vCenter {vcenter.name}: vms ({vm.name}).disks[{index}]: the {disk.image} image is "
                    f"{image.stat().st_size // MIB} MiB, more than capacity_mib {disk.capacity_mib}"
                )
            disk_raw["image_file"] = str(image)
    return raw


def _start_azurite(folder: Path, credentials: dict, certs: LabCertificates) -> dict:
    """Azurite's blob service through our wrapper, which also takes the accounts ARM creates at run time."""
    part = lab_part(folder, "azurite")
    port_file = folder / "run" / "azurite.port"
    if part.pid() is None:
        if not (PROJECT_ROOT / "node_modules" / "azurite").is_dir():
            raise PartFailed(f"lab part azurite: {PROJECT_ROOT / 'node_modules' / 'azurite'} is missing; "
                             f"run `npm ci` in {PROJECT_ROOT}")
        port = process.free_port()
        port_file.parent.mkdir(parents=True, exist_ok=True)
        port_file.write_text(str(port))
        accounts = ";".join(f"{name}:{key}" for name, key in credentials["storage_keys"].items())
        # The SDK's default API version is newer than Azurite's: without the skip every call is refused.
        process.start(
            part,
            ["node", str(AZURITE_WRAPPER), "--blobHost", "127.0.0.1", "--blobPort", str(port),
             "--location", str(folder / "azurite"), "--cert", str(certs.cert_file),
             "--key", str(certs.key_file), "--skipApiVersionCheck", "--disableTelemetry"],
            {"AZURITE_ACCOUNTS": accounts,
             "VMSHIFT_AZURITE_ACCOUNTS_FILE": str(folder / "arm" / AZURITE_ACCOUNTS_FILE)},
        )
    port = int(port_file.read_text())
    endpoint = f"https://127.0.0.1:{port}/{{account}}"
    process.wait_until(part, lambda: _https_answers(endpoint.format(account=""), str(certs.ca_file)), READY_TIMEOUT_S)
    return {"blob_endpoint": endpoint, "accounts": credentials["storage_keys"]}


def _start_arm(folder: Path, credentials: dict, certs: LabCertificates, azurite: dict) -> tuple[dict, dict]:
    part = lab_part(folder, "arm")
    ready_file = folder / "run" / "arm.ready"
    if part.pid() is None:
        ready_file.unlink(missing_ok=True)
        env = {"VMSHIFT_ARM_CLIENT_SECRET": credentials["arm_client_secret"],
               "VMSHIFT_ARM_ADMIN_SECRET": credentials["arm_admin_secret"]}
        env |= {f"VMSHIFT_STORAGE_KEY_{name.upper()}": key for name, key in azurite["accounts"].items()}
        process.start(
            part,
            [sys.executable, "-m", "vmshift.lab.arm", "--lab-dir", str(folder),
             "--spec", str(folder / "spec.json"), "--cert", str(certs.cert_file),
             "--key", str(certs.key_file), "--azurite-endpoint", azurite["blob_endpoint"].format(account=""),
             "--ready-file", str(ready_file)],
            env,
        )
    ready = process.wait_ready_file(part, ready_file, READY_TIMEOUT_S)
    dns_ = ready.pop("dns")
    # The administrator app is the lab's, for tests and people setting the world up; lab.env never names it.
    return {**ready, "client_secret": credentials["arm_client_secret"],
            "admin_client_secret": credentials["arm_admin_secret"]}, dns_


def _write_lab(folder: Path, lab: dict) -> None:
    for path, text in (
        (folder / "lab.json", json.dumps(lab, indent=2)),
        (folder / "lab.env", "".join(f"export {k}={_shell_quote(v)}\n" for k, v in lab_env(lab).items())),
    ):
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.chmod(0o600)
        tmp.replace(path)


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def _https_answers(url: str, ca_file: str) -> bool:
    try:
        requests.get(url, verify=ca_file, timeout=HEALTH_TIMEOUT_S)
    except (requests.RequestException, ssl.SSLError):
        return False
    return True


def _dns_answers(host: str, port: int) -> bool:
    query = dns.message.make_query("blob.core.windows.net.", "A")
    try:
        dns.query.udp(query, host, port=port, timeout=HEALTH_TIMEOUT_S)
    except (OSError, dns.exception.DNSException):
        return False
    return True
