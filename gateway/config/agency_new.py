"""``fame-gateway agency new --kind KIND NAME``: a commented starting file for an agency.

The kinds offered are the templates present in ``agency_templates/`` (one
``<kind>.toml`` each), so a new connector kind brings its template and nothing here
changes.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from gateway.config.agencies import valid_agency_id
from gateway.core.errors import GatewayError


def template_kinds() -> tuple[str, ...]:
    """The kinds with a starting file, sorted."""
    folder = resources.files("gateway.config") / "agency_templates"
    return tuple(
        sorted(
            entry.name.removesuffix(".toml")
            for entry in folder.iterdir()
            if entry.name.endswith(".toml")
        )
    )


def _env_name(agency_id: str, suffix: str) -> str:
    return f"FAME_{agency_id.upper().replace('-', '_')}_{suffix}"


def render_template(kind: str, agency_id: str) -> str:
    """The starting file's text for an agency of this kind."""
    kinds = template_kinds()
    if kind not in kinds:
        raise GatewayError(
            f"there is no starting file for the kind {kind!r}; use --kind with one of: "
            f"{', '.join(kinds)}"
        )
    if not valid_agency_id(agency_id):
        raise GatewayError(
            f"{agency_id!r} is not a usable agency id: it names the file and is written in "
            "the sharing protocol, so use lower-case letters, digits and hyphens, starting "
            "with a letter (e.g. shire-housing)"
        )
    text = (resources.files("gateway.config") / "agency_templates" / f"{kind}.toml").read_text()
    name = agency_id.replace("-", " ").title()
    return (
        text.replace("__AGENCY_ID__", agency_id)
        .replace("__AGENCY_NAME__", name)
        .replace("__ENV__", _env_name(agency_id, "DSN"))
        .replace("__TOKEN_ENV__", _env_name(agency_id, "TOKEN"))
    )


def write_template(kind: str, agency_id: str, directory: Path) -> Path:
    """Write ``directory/<agency_id>.toml``; refuses to overwrite an existing file."""
    text = render_template(kind, agency_id)
    file = directory / f"{agency_id}.toml"
    if file.exists():
        raise GatewayError(
            f"{file} already exists; choose another name, or edit that file and run "
            f"`fame-gateway agency check {file}`"
        )
    if not directory.is_dir():
        raise GatewayError(
            f"{directory} is not a directory; create it, or give the agencies' directory with --dir"
        )
    file.write_text(text)
    return file
