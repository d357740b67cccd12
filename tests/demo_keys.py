"""Demo keys for test worlds, made once per key layout and copied into each new world.

A world needs eleven key pairs (one per issuer, the audit's, the gateway's SMART client
key); RSA key generation made up about a third of starting one. Worlds whose settings
name the same key files get the same keys: each issuer still has a key of its own, and
``generate_demo_keys`` still makes whatever a world needs that is not copied in.
"""

from __future__ import annotations

from pathlib import Path

from gateway.config.settings import Settings
from gateway.config.tokens import generate_demo_keys

#: By the key files a world's settings name (relative to its root): the files
#: ``generate_demo_keys`` wrote for the first such world, relative path -> bytes.
_MADE: dict[tuple[str, ...], dict[Path, bytes]] = {}


def provide_demo_keys(settings: Settings, root: Path) -> None:
    """Give the world under ``root`` the demo keys its settings need, copying those made
    for an earlier world with the same key files instead of generating them again."""
    layout = _layout(settings, root)
    if layout is None:
        generate_demo_keys(settings)
        return
    for relative, content in _MADE.get(layout, {}).items():
        target = root / relative
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            target.chmod(0o600)
    written = generate_demo_keys(settings)
    if written:
        made = _MADE.setdefault(layout, {})
        for path in written:
            made[path.relative_to(root)] = path.read_bytes()


def _layout(settings: Settings, root: Path) -> tuple[str, ...] | None:
    # Every file generate_demo_keys derives its outputs from: the same names, the same
    # outputs. None when one lies outside the world's root (nothing to copy it relative to).
    named = [settings.audit_signing_key_file]
    named += [issuer.jwks_file for issuer in settings.issuers]
    named += [
        getattr(getattr(agency.source, "auth", None), "private_key_file", None)
        for agency in settings.agencies
    ]
    relative: list[str] = []
    for path in named:
        if path is None:
            continue
        if not path.is_relative_to(root):
            return None
        relative.append(str(path.relative_to(root)))
    return (str(settings.demo), *sorted(relative))
