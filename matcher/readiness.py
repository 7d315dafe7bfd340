"""What `matcher config check` warns about: settings that validate but would fail a real service."""
from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit

from matcher.config import RESERVED_MAIL_SUFFIXES, Config

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def _loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def warnings(cfg: Config) -> list[str]:
    """One line per problem, each naming the key."""
    out = []
    url = urlsplit(cfg.digest.public_base_url)
    if _loopback(url.hostname or ""):
        out.append(f"digest.public_base_url: {cfg.digest.public_base_url} is this machine: the unsubscribe, feedback "
                   "and profile links in every email would not open for recipients; set the public https:// address "
                   "the reverse proxy serves")
    elif url.scheme != "https":
        out.append(f"digest.public_base_url: {cfg.digest.public_base_url} is not https: links carry signed tokens "
                   "and mail providers distrust plain-http unsubscribe links")
    domain = cfg.digest.sender_domain()
    if domain.endswith(RESERVED_MAIL_SUFFIXES) or domain in ("localhost", "invalid"):
        out.append(f"digest.from_address: {cfg.digest.from_address} is at a reserved domain ({domain}): fine for the "
                   "outbox, but relays refuse it and SPF, DKIM and DMARC cannot pass (smtp mode refuses to start); "
                   "use an address at a domain you publish those records for")
    d = cfg.delivery
    if d.mode == "smtp":
        if not d.password_env:
            out.append("delivery.password_env: unset in smtp mode, so the relay gets no password: most relays refuse "
                       "unauthenticated mail (set it to the name of the variable holding the password)")
        elif os.environ.get(d.password_env) is None:
            out.append(f"delivery.password_env: environment variable {d.password_env} is not set here, so sending "
                       "would fail; set it in the service's environment")
        if d.password_env and not d.username:
            out.append("delivery.username: unset, so the SMTP password is never used")
        if not (d.starttls or d.ssl) and not _loopback(d.smtp_host):
            out.append(f"delivery.starttls: off for {d.smtp_host}: the password and the mail would cross the network "
                       "in clear; set starttls = true (port 587) or ssl = true (port 465)")
    return out
