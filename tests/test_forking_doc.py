"""docs/forking.md lists what stops start-up when a setting is missing or wrong ("What stops start-up").

The list is checked against the code: every setting named by a start-up refusal — a `ConfigurationError` or
a settings `ValueError` raised in `libs/*/src` or `services/*/src`, a development secret handed to
`refuse_development_secrets`, a setting a boundary mode declares it needs (both registries), a settings
field with no default — must be in that section. A new refusal that the page does not mention fails here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parent.parent
FORKING = ROOT / "docs" / "forking.md"
#: An environment variable: a prefix, an underscore, a name (`GATEWAY_EDGE_CLIENTS`, `CLIENT_SECRET`).
VARIABLE = re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9]\b")
REFUSALS = {"ConfigurationError", "ValueError"}


def start_up_section() -> str:
    text = FORKING.read_text()
    start = text.index("### What stops start-up")
    end = text.index("\n## ", start)
    return text[start:end]


def _strings(node: ast.AST) -> Iterator[str]:
    for child in ast.walk(node):
        if isinstance(child, ast.Constant) and isinstance(child.value, str):
            yield child.value


def _called(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def refused_in_code() -> dict[str, str]:
    """variable -> where the code refuses to start over it."""
    found: dict[str, str] = {}
    for path in sorted([*ROOT.glob("libs/*/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and _called(node.exc) in REFUSALS:
                texts = _strings(node.exc)
            elif isinstance(node, ast.Call) and _called(node) == "refuse_development_secrets":
                texts = _strings(node)
            else:
                continue
            for text in texts:
                for name in VARIABLE.findall(text):
                    found.setdefault(name, str(path.relative_to(ROOT)))
    return found


def declared_by_modes() -> set[str]:
    from authz.modes import SERVICE_MODES
    from gateway.modes import GATEWAY_MODES

    return {s for mode in [*SERVICE_MODES.values(), *GATEWAY_MODES.values()] for s in mode.settings}


def required_fields() -> set[str]:
    """Settings fields with no default, as environment variables."""
    from gateway.settings import Settings as Gateway
    from identity.settings import Settings as Identity
    from reminders.settings import Settings as Reminders
    from shares.settings import Settings as Shares
    from todos.settings import Settings as Todos

    classes: list[type[BaseSettings]] = [Gateway, Identity, Reminders, Shares, Todos]
    return {
        f"{cls.model_config.get('env_prefix', '')}{name}".upper()
        for cls in classes
        for name, field in cls.model_fields.items()
        if field.is_required()
    }


def test_the_code_refuses_over_these_settings() -> None:
    # The extraction finds what it should (a guard against a pattern that finds nothing and passes).
    found = refused_in_code()
    assert {
        "GATEWAY_EDGE_CLIENTS",
        "AUTHZ_INSECURE_DEMO",
        "IDENTITY_ALLOW_PASSWORD_GRANT",
        "TODOS_DATABASE_URL",
    } <= set(found)
    assert {"AUTHZ_EXTRACT_KEY", "GATEWAY_EXTRACT_KEYS", "GATEWAY_CLIENT_SECRET"} <= declared_by_modes()
    assert {"REMINDERS_CLIENT_SECRET", "SHARES_CLIENT_SECRET"} <= required_fields()


def test_every_start_up_refusal_is_in_the_forking_doc() -> None:
    section = start_up_section()
    named = set(refused_in_code()) | declared_by_modes() | required_fields()
    missing = sorted(name for name in named if name not in section)
    assert missing == [], f"docs/forking.md, 'What stops start-up', does not name: {missing}"


def test_every_setting_the_section_names_exists() -> None:
    known = set(refused_in_code()) | declared_by_modes() | required_fields()
    section = start_up_section()
    for name in set(VARIABLE.findall(section)) - known:
        # Not refused by name in a message (a pydantic field check, e.g. AUTHZ_ALGORITHMS): a real field.
        prefix, _, field = name.partition("_")
        assert _settings_field_exists(prefix, field.lower()), name


def _settings_field_exists(prefix: str, field: str) -> bool:
    from authz import AuthzSettings
    from gateway.settings import Settings as Gateway
    from identity.settings import Settings as Identity
    from reminders.settings import Settings as Reminders
    from shares.settings import Settings as Shares
    from todos.settings import Settings as Todos

    classes: dict[str, type[BaseSettings]] = {
        "AUTHZ": AuthzSettings,
        "GATEWAY": Gateway,
        "IDENTITY": Identity,
        "REMINDERS": Reminders,
        "SHARES": Shares,
        "TODOS": Todos,
    }
    return prefix in classes and field in classes[prefix].model_fields
