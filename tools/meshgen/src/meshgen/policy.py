"""The peer policy (mesh/policy.yaml): its models, its checks, and how it is loaded.

A policy that loads is one the generators can trust: every caller is a declared workload (or `ingress`),
every method an HTTP method, every path one of the three shapes Istio and Envoy agree on. Anything else
is a `PolicyError` that names the place in the file and what is wrong there.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

#: The caller that is not a workload: the edge (Istio's ingress gateway; locally the public listeners).
INGRESS = "ingress"
#: CONNECT and TRACE are left out on purpose: nothing in the suite needs them.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # a Kubernetes DNS label: a service account's name
_TRUST_DOMAIN = re.compile(r"^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$")  # SPIFFE: lower-case letters, digits, '.', '-'
# RFC 3986 pchar, less `*` (our wildcard) and `%` (the sidecar decodes what it may before matching).
_SEGMENT = re.compile(r"^[A-Za-z0-9._~!$&'()+,;=:@-]+$")


class PolicyError(ValueError):
    """The policy file is missing, is not YAML, or says something the generators cannot enforce."""


def _name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(f"{value!r} is not a service account name (lower-case letters, digits and '-')")
    return value


def _trust_domain(value: str) -> str:
    if not _TRUST_DOMAIN.match(value):
        raise ValueError(f"{value!r} is not a SPIFFE trust domain (lower-case letters, digits, '.' and '-')")
    return value


def _method(value: str) -> str:
    if value not in METHODS:
        raise ValueError(f"{value!r} is not a method the policy knows; use one of {', '.join(METHODS)} (upper case)")
    return value


def _segments(path: str) -> list[str]:
    for bad, why in (("?", "a query"), ("#", "a fragment")):
        if bad in path:
            raise ValueError(f"{path!r} has {why}: paths are matched without the query string")
    segments = path[1:].split("/")
    if any(s in (".", "..") for s in segments) or "//" in path:
        raise ValueError(f"{path!r} is not normalised (the sidecar resolves '.', '..' and '//' before matching)")
    return segments


def _path(value: str) -> str:
    """An exact path, a prefix (`/x/*`), or a template (`{*}` one segment, a trailing `{**}` any)."""
    if not value.startswith("/"):
        raise ValueError(f"{value!r} does not start with '/'")
    body = value[:-1] if value.endswith("/*") else value
    segments = _segments(body)
    templated = any(s in ("{*}", "{**}") for s in segments)
    if templated and value.endswith("/*"):
        raise ValueError(f"{value!r} mixes a template with a prefix: end it with '{{**}}' instead of '*'")
    for i, segment in enumerate(segments):
        if segment == "{**}" and i != len(segments) - 1:
            raise ValueError(f"{value!r}: '{{**}}' may only be the last segment")
        if segment in ("{*}", "{**}") or (segment == "" and i == len(segments) - 1):
            continue
        if "{" in segment or "}" in segment:
            raise ValueError(f"{value!r}: the only templates are whole segments '{{*}}' and '{{**}}'")
        if "*" in segment:
            raise ValueError(f"{value!r}: '*' is allowed only as '/*' at the end (a prefix) or as '{{*}}'/'{{**}}'")
        if not _SEGMENT.match(segment):
            raise ValueError(f"{value!r}: segment {segment!r} has characters a normalised path cannot have")
    return value


def _exact_path(value: str) -> str:
    if "*" in value:
        raise ValueError(f"{value!r}: probe paths are exact, with no wildcard")
    return _path(value)


Name = Annotated[str, AfterValidator(_name)]
TrustDomain = Annotated[str, AfterValidator(_trust_domain)]
Method = Annotated[str, AfterValidator(_method)]
PathPattern = Annotated[str, AfterValidator(_path)]
ExactPath = Annotated[str, AfterValidator(_exact_path)]


def path_kind(path: str) -> str:
    """`exact`, `prefix` or `template`: how a valid path pattern matches."""
    if "{*}" in path or "{**}" in path:
        return "template"
    return "prefix" if path.endswith("*") else "exact"


class _Strict(BaseModel):
    # Unknown keys are errors: a misspelt `method:` must not silently allow every method.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Operation(_Strict):
    """What a caller may do: any of `methods` (all, if left out) on any of `paths`."""

    methods: tuple[Method, ...] = ()
    paths: tuple[PathPattern, ...] = Field(min_length=1)


class Rule(_Strict):
    """Callers (`from`) and what they may do (`to`): the rule allows any caller any of the operations."""

    callers: tuple[Name, ...] = Field(alias="from", min_length=1)
    to: tuple[Operation, ...] = Field(min_length=1)


class ServicePolicy(_Strict):
    """The calls a workload accepts. No rule: it accepts none (default deny)."""

    allow: tuple[Rule, ...] = ()


class Policy(_Strict):
    """The whole peer policy. Build it with `load_policy`; `Policy.model_validate` for a dict in tests."""

    trust_domain: TrustDomain = "cluster.local"
    namespace: Name
    workloads: tuple[Name, ...] = Field(min_length=1)
    probes: tuple[ExactPath, ...] = ()
    services: dict[Name, ServicePolicy] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names_are_declared(self) -> Policy:
        known = set(self.workloads)
        if INGRESS in known:
            raise ValueError(f"{INGRESS!r} is the edge, not a workload: remove it from `workloads`")
        if len(known) != len(self.workloads):
            raise ValueError("`workloads` lists a name twice")
        listing = ", ".join(self.workloads)
        for service, policy in self.services.items():
            if service not in known:
                raise ValueError(f"services.{service}: unknown workload {service!r} (workloads: {listing})")
            for i, rule in enumerate(policy.allow):
                for caller in rule.callers:
                    if caller not in known and caller != INGRESS:
                        raise ValueError(
                            f"services.{service}.allow.{i}.from: unknown caller {caller!r} "
                            f"(workloads: {listing}; or {INGRESS!r})"
                        )
        return self

    def rules(self, service: str) -> tuple[Rule, ...]:
        """The rules of a workload; none for a workload left out of `services`."""
        policy = self.services.get(service)
        return policy.allow if policy else ()

    def spiffe_id(self, workload: str) -> str:
        return f"spiffe://{self.istio_principal(workload)}"

    def istio_principal(self, workload: str) -> str:
        """Istio's form of a SPIFFE ID: the same, without `spiffe://`."""
        return f"{self.trust_domain}/ns/{self.namespace}/sa/{workload}"

    def callers_of(self, service: str) -> list[str]:
        """Every caller some rule of `service` names, in the order they first appear."""
        return list(dict.fromkeys(c for rule in self.rules(service) for c in rule.callers))

    def destinations_of(self, workload: str) -> list[str]:
        """The workloads `workload` may call at all (on some path), in `workloads` order."""
        return [w for w in self.workloads if workload in self.callers_of(w)]

    def ingress_services(self) -> list[str]:
        """The workloads the edge may call."""
        return [w for w in self.workloads if INGRESS in self.callers_of(w)]


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys without a word; in a policy that hides a rule."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def parse_policy(text: str, source: str = "policy") -> Policy:
    """Parse and check a policy from YAML text; `source` names it in errors."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        raise PolicyError(f"{source}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: expected a mapping at the top level")
    try:
        return Policy.model_validate(data)
    except ValidationError as e:
        raise PolicyError(f"{source}: {e.error_count()} problem(s)\n" + "\n".join(_describe(e))) from None


def load_policy(path: Path) -> Policy:
    """Read and check the policy file."""
    try:
        text = path.read_text()
    except OSError as e:
        raise PolicyError(f"{path}: cannot read the policy: {e.strerror}") from None
    return parse_policy(text, str(path))


def _describe(error: ValidationError) -> list[str]:
    lines = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (a typo?)"
        lines.append(f"  {where}: {message}" if where else f"  {message}")
    return lines
