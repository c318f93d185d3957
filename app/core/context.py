"""Per-request context that logs and audit events carry: the request id, the caller's address,
the method and the path."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestInfo:
    request_id: str
    ip: str | None
    method: str
    path: str


request_info_var: ContextVar[RequestInfo | None] = ContextVar("request_info", default=None)


def current_request_id() -> str | None:
    info = request_info_var.get()
    return info.request_id if info else None


def current_client_ip() -> str | None:
    """The client address of the request being served (see `client_address`)."""
    info = request_info_var.get()
    return info.ip if info else None


# ---- the client's address ----------------------------------------------------------------------

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_trusted_proxies(text: str) -> tuple[IPNetwork, ...]:
    """`CAREPLAN_TRUSTED_PROXIES`: IP addresses or CIDR networks, comma-separated. Raises
    `ValueError` naming the first entry that is neither."""
    networks: list[IPNetwork] = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or network") from None
    return tuple(networks)


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies: Sequence[IPNetwork]
) -> bool:
    return any(address in network for network in proxies)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted_proxies: Sequence[IPNetwork]
) -> str | None:
    """The one answer to "who is the client": what throttling, audit events and logs record.

    The direct peer, unless it is a trusted proxy: then `X-Forwarded-For` (all its headers, in
    order) is read from the right, each hop appended by a trusted proxy being believed, and the
    first address not itself a trusted proxy is the client. Entries left of that are whatever
    the client chose to send, and are ignored. A malformed entry where a trusted proxy should
    have written an address ends the walk at the last proxy."""
    if peer is None:
        return None
    if not trusted_proxies:
        return peer
    peer_ip = _parse_ip(peer)
    if peer_ip is None or not _trusted(peer_ip, trusted_proxies):
        return peer
    hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
    address = peer_ip
    for hop in reversed(hops):
        hop_ip = _parse_ip(hop)
        if hop_ip is None:
            break
        address = hop_ip
        if not _trusted(hop_ip, trusted_proxies):
            break
    return str(address)
