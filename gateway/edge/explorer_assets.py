"""The schema explorer's third-party files: pinned in a manifest, fetched once, verified always.

GraphiQL and React come from the npm registry as the tarballs their authors
published, pinned by version and by the registry's integrity hash of each
tarball; only the few files the page needs are extracted, each pinned by its
own sha256. ``fame-gateway explorer fetch`` does this once, at set-up (``make``
runs it), with nothing but Python: no Node, no npm, and no CDN at page load. The
gateway checks the files against the same hashes before serving them.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import sys
import tarfile
import tomllib
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from gateway.core.errors import GatewayError

#: The command that fetches the files; the explorer page names it when they are missing.
FETCH_COMMAND = "fame-gateway explorer fetch"
#: Where the files are kept, when set; otherwise under the Python environment's prefix
#: (the project's .venv), so that they go with the environment that serves them.
DIRECTORY_VARIABLE = "FAME_EXPLORER_DIR"
MANIFEST = Path(__file__).with_name("explorer_files") / "assets.toml"
#: A tarball larger than this is refused unread: the pinned ones are at most about 5 MB.
MAX_TARBALL_BYTES = 32 * 1024 * 1024
_TIMEOUT_SECONDS = 120


class AssetError(GatewayError):
    """A file could not be fetched, or is not the one the manifest pins."""


@dataclass(frozen=True)
class PinnedPackage:
    """One npm package: its version, the tarball's integrity, and the files taken from it."""

    name: str
    version: str
    #: As the registry's ``dist.integrity`` gives it: ``sha512-<base64>``.
    integrity: str
    #: Path inside the package -> sha256 (hex) of the file.
    files: Mapping[str, str]

    @property
    def key(self) -> str:
        """``name@version``: the package's directory and the prefix of its URLs."""
        return f"{self.name}@{self.version}"

    def tarball_url(self, registry: str) -> str:
        """Where the registry keeps the tarball (npm's layout)."""
        base = self.name.rpartition("/")[2]
        return f"{registry.rstrip('/')}/{self.name}/-/{base}-{self.version}.tgz"


@dataclass(frozen=True)
class Manifest:
    """The pinned packages, and the registry they come from unless told otherwise."""

    registry: str
    packages: tuple[PinnedPackage, ...]

    def package(self, name: str) -> PinnedPackage:
        """The pinned package with this name."""
        for package in self.packages:
            if package.name == name:
                return package
        raise KeyError(name)


def load_manifest(path: Path = MANIFEST) -> Manifest:
    """Read and check the manifest; it is part of the gateway, so a bad one is a bug."""
    doc = tomllib.loads(path.read_text())
    packages: list[PinnedPackage] = []
    for entry in doc.get("package", []):
        files = entry.get("files", {})
        if not files or not all(_safe_path(p) and _is_sha256(h) for p, h in files.items()):
            raise AssetError(f"{path}: package {entry.get('name')!r} lists no files or bad ones")
        if not str(entry.get("integrity", "")).startswith("sha512-"):
            raise AssetError(f"{path}: package {entry.get('name')!r} has no sha512 integrity")
        packages.append(
            PinnedPackage(
                name=str(entry["name"]),
                version=str(entry["version"]),
                integrity=str(entry["integrity"]),
                files=dict(files),
            )
        )
    return Manifest(registry=str(doc["registry"]), packages=tuple(packages))


def assets_directory() -> Path:
    """Where the fetched files are kept: ``$FAME_EXPLORER_DIR``, else in the environment."""
    chosen = os.environ.get(DIRECTORY_VARIABLE)
    if chosen:
        return Path(chosen)
    return Path(sys.prefix) / "share" / "fame-gateway" / "explorer"


def asset_path(directory: Path, package: PinnedPackage, path: str) -> Path:
    """Where one file of a package is kept."""
    return directory / package.key / path


def verified(directory: Path, package: PinnedPackage, path: str) -> bytes | None:
    """The file's bytes when present and exactly as pinned, else None."""
    try:
        data = asset_path(directory, package, path).read_bytes()
    except OSError:
        return None
    return data if hashlib.sha256(data).hexdigest() == package.files[path] else None


def missing(manifest: Manifest, directory: Path) -> list[str]:
    """``name@version/path`` of every pinned file absent or different on disk."""
    return [
        f"{package.key}/{path}"
        for package in manifest.packages
        for path in package.files
        if verified(directory, package, path) is None
    ]


def fetch_assets(
    manifest: Manifest,
    directory: Path,
    *,
    registry: str | None = None,
    say: Callable[[str], None] = print,
) -> None:
    """Download, verify and extract every pinned file not already on disk as pinned.

    Nothing is written for a package whose tarball does not match its pinned
    integrity, or any of whose files does not match its pinned sha256.
    """
    registry = registry or _registry_from_environment() or manifest.registry
    for package in manifest.packages:
        if all(verified(directory, package, path) is not None for path in package.files):
            say(f"{package.key}: already in {directory}")
            continue
        url = package.tarball_url(registry)
        tarball = _download(url)
        _check_integrity(package, url, tarball)
        files = _extract(package, tarball)
        for path, data in files.items():
            target = asset_path(directory, package, path)
            target.parent.mkdir(parents=True, exist_ok=True)
            # Written aside and renamed: a server reading meanwhile never sees half a file.
            partial = target.with_name(target.name + ".part")
            partial.write_bytes(data)
            partial.replace(target)
        say(f"{package.key}: {len(files)} files verified and written to {directory}")


def _registry_from_environment() -> str | None:
    # npm's own setting, for machines that reach the registry through a mirror; the
    # pinned hashes make a mirror as safe as the registry itself.
    return os.environ.get("npm_config_registry") or os.environ.get("NPM_CONFIG_REGISTRY")  # noqa: SIM112


def _download(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "fame-gateway explorer fetch"})
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as response:
            data: bytes = response.read(MAX_TARBALL_BYTES + 1)
    except OSError as exc:
        raise AssetError(
            f"could not download {url}: {exc}; check the network or set npm_config_registry "
            "to a registry mirror"
        ) from None
    if len(data) > MAX_TARBALL_BYTES:
        raise AssetError(f"{url} is larger than {MAX_TARBALL_BYTES} bytes; refusing it")
    return data


def _check_integrity(package: PinnedPackage, url: str, tarball: bytes) -> None:
    expected = package.integrity.removeprefix("sha512-")
    actual = base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    if actual != expected:
        raise AssetError(
            f"{url} is not the tarball pinned for {package.key}: its integrity is "
            f"sha512-{actual}, the manifest pins {package.integrity}; nothing was written"
        )


def _extract(package: PinnedPackage, tarball: bytes) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for path, digest in package.files.items():
            # Only named regular files are read; nothing is extracted by the archive's say.
            try:
                member = archive.getmember(f"package/{path}")
            except KeyError:
                raise AssetError(f"{package.key} has no file {path}") from None
            reader = archive.extractfile(member) if member.isfile() else None
            if reader is None:
                raise AssetError(f"{package.key}: {path} is not a regular file")
            data = reader.read()
            if hashlib.sha256(data).hexdigest() != digest:
                raise AssetError(
                    f"{package.key}: {path} does not match its pinned sha256; nothing was written"
                )
            files[path] = data
    return files


def _safe_path(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return bool(parts) and not PurePosixPath(path).is_absolute() and ".." not in parts


def _is_sha256(value: object) -> bool:
    return (
        isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
    )
