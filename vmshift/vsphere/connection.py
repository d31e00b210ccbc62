"""One authenticated vCenter session: the SOAP API through pyvmomi and an HTTP session for datastore reads."""

from __future__ import annotations

import logging
import os
import re
import ssl
from dataclasses import dataclass, field
from http.client import HTTPException
from urllib.parse import urlparse
from xml.etree.ElementTree import ParseError

import requests
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim

from vmshift import tls
from vmshift.vsphere.errors import VCenterConfigError, VCenterLoginFailed, VCenterUnreachable

log = logging.getLogger(__name__)

SESSION_COOKIE = "vmware_soap_session"
_FIELDS = ("URL", "USER", "PASSWORD", "DATACENTER")


def vcenter_env_key(name: str) -> str:
    """The part of a vCenter's environment variables that names it: `vc01.contoso.com` → `VC01_CONTOSO_COM`."""
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


@dataclass(frozen=True)
class VCenterConfig:
    """Where and as whom to reach vCenter; read from the environment by the product."""

    url: str
    user: str
    password: str = field(repr=False)
    datacenter: str
    ca_file: str | None = None
    verify_tls: bool = True
    # How a plan and the inventory name this vCenter (its host name); empty: the URL's host.
    name: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", urlparse(self.url).hostname or self.url)

    @classmethod
    def from_env(cls, name: str | None = None) -> VCenterConfig:
        """Read VMSHIFT_VCENTER_* (URL, USER, PASSWORD, DATACENTER, NAME) and VMSHIFT_CA_FILE;
        VMSHIFT_VCENTER_VERIFY_TLS=false turns verification off. With `name`, the vCenter of that name: the
        single set when VMSHIFT_VCENTER_NAME is that name, else VMSHIFT_VCENTER_<KEY>_URL and so on, KEY being
        the name in capitals with `_` for anything but letters and digits (`vcenter_env_key`)."""
        prefix = "VMSHIFT_VCENTER_"
        if name is not None and name != os.environ.get("VMSHIFT_VCENTER_NAME"):
            prefix = f"VMSHIFT_VCENTER_{vcenter_env_key(name)}_"
        missing = [prefix + field for field in _FIELDS if not os.environ.get(prefix + field)]
        if missing:
            which = f"vCenter {name}" if name else "vCenter"
            raise VCenterConfigError(f"set {', '.join(missing)} to reach {which}")
        return cls(
            url=os.environ[prefix + "URL"],
            user=os.environ[prefix + "USER"],
            password=os.environ[prefix + "PASSWORD"],
            datacenter=os.environ[prefix + "DATACENTER"],
            ca_file=tls.ca_file(),
            verify_tls=os.environ.get("VMSHIFT_VCENTER_VERIFY_TLS", "true").lower() not in ("false", "0", "no"),
            name=name or os.environ.get("VMSHIFT_VCENTER_NAME", ""),
        )

    @classmethod
    def all_from_env(cls) -> list[VCenterConfig]:
        """Every vCenter configured: those VMSHIFT_VCENTERS names (comma-separated), else the single one."""
        names = [name.strip() for name in os.environ.get("VMSHIFT_VCENTERS", "").split(",") if name.strip()]
        return [cls.from_env(name) for name in names] if names else [cls.from_env()]

    @classmethod
    def named_in_plan(cls, vcenter: str | None) -> VCenterConfig:
        """The configured vCenter that a plan's `vcenter` cell names, by its name or its URL's host, in any case and
        with any port; an empty cell names the default one (VMSHIFT_VCENTER_*)."""
        if not vcenter:
            return cls.from_env()
        configs = cls.all_from_env()
        found = next((config for config in configs if config.known_as(vcenter)), None)
        if found is None:
            raise VCenterConfigError(f"vCenter {vcenter} is not configured: vmshift reaches "
                                     f"{', '.join(config.name for config in configs)} (VMSHIFT_VCENTERS)")
        return found

    def known_as(self, vcenter: str) -> bool:
        """Whether a plan's `vcenter` cell (a host name, maybe with a port) names this vCenter."""
        host = vcenter.split(":")[0].lower()
        return host in (self.name.lower(), (urlparse(self.url).hostname or "").lower())

    def _repr_pretty_(self, printer: object, cycle: bool) -> None:
        # Pretty-printers (IPython, hypothesis' failure reports) print dataclass fields one by one and ignore
        # repr=False: keep the password out of them.
        printer.text(repr(self))  # type: ignore[attr-defined]


@dataclass(repr=False)
class VSphereSession:
    """A logged-in vCenter: pyvmomi's service instance, the datacenter, and `http` carrying the same session
    cookie for datastore file access (vCenter accepts the SOAP session there)."""

    config: VCenterConfig
    service_instance: vim.ServiceInstance
    content: vim.ServiceInstanceContent
    datacenter: vim.Datacenter
    http: requests.Session
    base_url: str

    def __repr__(self) -> str:
        return f"VSphereSession({self.config.url}, datacenter={self.config.datacenter})"

    def _repr_pretty_(self, printer: object, cycle: bool) -> None:
        printer.text(repr(self))  # type: ignore[attr-defined]

    def close(self) -> None:
        """Log out, so that vCenter does not keep the session until it expires."""
        self.http.close()
        Disconnect(self.service_instance)

    def __enter__(self) -> VSphereSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ssl_context(config: VCenterConfig) -> ssl.SSLContext:
    """Verifying context with the configured CA bundle added; unverified only when explicitly configured."""
    if not config.verify_tls:
        log.warning("TLS verification of vCenter %s is OFF: anyone on the path can read the credentials", config.url)
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    context = ssl.create_default_context()
    if config.ca_file:
        context.load_verify_locations(cafile=config.ca_file)
    return context


def connect(config: VCenterConfig) -> VSphereSession:
    """Log in to vCenter and find the configured datacenter."""
    parsed = urlparse(config.url)
    if parsed.scheme != "https" or not parsed.hostname:
        raise VCenterConfigError(f"vCenter URL must look like https://vcenter.example.com/sdk, got {config.url!r}")
    try:
        si = SmartConnect(
            host=parsed.hostname, port=parsed.port or 443, path=parsed.path or "/sdk",
            user=config.user, pwd=config.password, sslContext=ssl_context(config),
        )
    except vim.fault.InvalidLogin as error:
        raise VCenterLoginFailed(f"vCenter {config.url} refused the login of {config.user}") from error
    except ssl.SSLError as error:
        raise VCenterLoginFailed(
            f"TLS verification of vCenter {config.url} failed ({error.reason}); "
            "add its CA to VMSHIFT_CA_FILE"
        ) from error
    except OSError as error:
        raise VCenterUnreachable(f"vCenter {config.url} does not answer ({error}); check the URL and the network "
                                 "path from this appliance") from error
    except (ParseError, HTTPException) as error:
        raise VCenterUnreachable(f"{config.url} answers, but not as a vCenter SDK endpoint ({error}); "
                                 "check the URL (it ends in /sdk)") from error
    content = si.RetrieveContent()
    datacenter = next((dc for dc in content.rootFolder.childEntity
                       if isinstance(dc, vim.Datacenter) and dc.name == config.datacenter), None)
    if datacenter is None:
        Disconnect(si)
        raise VCenterConfigError(f"vCenter {config.url} has no datacenter named {config.datacenter!r}")
    http = requests.Session()
    http.verify = (config.ca_file or True) if config.verify_tls else False
    # Sent back exactly as vCenter set it: its value is quoted, and re-encoding would change it.
    session_cookie = si._stub.cookie.split(";")[0].strip()
    if not session_cookie.startswith(SESSION_COOKIE + "="):
        Disconnect(si)
        raise VCenterLoginFailed(f"vCenter {config.url} gave no {SESSION_COOKIE} cookie for datastore access")
    http.headers["Cookie"] = session_cookie
    base_url = f"{parsed.scheme}://{parsed.netloc}"
    return VSphereSession(config, si, content, datacenter, http, base_url)
