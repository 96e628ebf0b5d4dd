"""Kubernetes NetworkPolicy semantics, evaluated for named pods: which connections the policies of
a rendered overlay allow. Follows the networking.k8s.io/v1 rules: a pod selected by no policy of a
direction is open in it; a selected pod admits the union of its policies' rules; a peer with both a
namespace and a pod selector must match both; ipBlock applies to addresses outside the cluster."""

from dataclasses import dataclass, field
from ipaddress import ip_address, ip_network
from typing import Any

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class External:
    """An address outside the cluster (a managed database, the internet)."""

    name: str
    ip: str


def selects(selector: Manifest | None, labels: dict[str, str]) -> bool:
    """A label selector (matchLabels and matchExpressions); an empty selector selects everything."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for e in selector.get("matchExpressions", []):
        present, values = e["key"] in labels, e.get("values", [])
        ok = {
            "In": present and labels[e["key"]] in values,
            "NotIn": not present or labels[e["key"]] not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[e["operator"]]
        if not ok:
            return False
    return True


def _namespace_labels(namespace: str) -> dict[str, str]:
    return {"kubernetes.io/metadata.name": namespace}


def _peer_matches(peer: Manifest, policy_namespace: str, other: Pod | External) -> bool:
    if "ipBlock" in peer:
        if not isinstance(other, External):
            return False
        block = peer["ipBlock"]
        address = ip_address(other.ip)
        inside = address in ip_network(block["cidr"])
        return inside and not any(address in ip_network(e) for e in block.get("except", []))
    if isinstance(other, External):
        return False
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], _namespace_labels(other.namespace)):
            return False
    elif other.namespace != policy_namespace:
        return False
    return "podSelector" not in peer or selects(peer["podSelector"], other.labels)


def _port_matches(rule: Manifest, port: int) -> bool:
    ports = rule.get("ports")
    return not ports or any(
        p.get("port") in (None, port) and p.get("protocol", "TCP") == "TCP" for p in ports
    )


def _allowed(policies: list[Manifest], pod: Pod, other: Pod | External, port: int, direction: str) -> bool:
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    selecting = [
        p
        for p in policies
        if p["metadata"].get("namespace") == pod.namespace
        and direction in p["spec"].get("policyTypes", ["Ingress"])
        and selects(p["spec"]["podSelector"], pod.labels)
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get(key, []):
            peers = rule.get(peers_key)
            peer_ok = not peers or any(_peer_matches(x, pod.namespace, other) for x in peers)
            if peer_ok and _port_matches(rule, port):
                return True
    return False


def can_connect(policies: list[Manifest], source: Pod, target: Pod | External, port: int) -> bool:
    """Whether `source` may open a TCP connection to `target`:`port` under `policies`."""
    if not _allowed(policies, source, target, port, "Egress"):
        return False
    return isinstance(target, External) or _allowed(policies, target, source, port, "Ingress")
