"""Fetching the explorer's files: only tarballs matching their pinned integrity, only the
files named and as pinned, nothing written otherwise, nothing fetched twice.

A registry on 127.0.0.1 serves tarballs built here; the real manifest is checked for
shape only (the real download is `make`'s business, and the browser test's).
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.edge.explorer_assets import (
    AssetError,
    Manifest,
    PinnedPackage,
    asset_path,
    fetch_assets,
    load_manifest,
    missing,
)

SCRIPT = b"window.Widget = function () {};\n"
STYLE = b".widget { color: teal }\n"


def _tarball(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(f"package/{name}")
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    return buffer.getvalue()


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def _pin(name: str, tarball: bytes, files: dict[str, bytes]) -> PinnedPackage:
    return PinnedPackage(
        name=name,
        version="1.0.0",
        integrity=_integrity(tarball),
        files={path: hashlib.sha256(data).hexdigest() for path, data in files.items()},
    )


class Registry:
    """Tarballs by URL path, and every path asked for."""

    def __init__(self) -> None:
        self.tarballs: dict[str, bytes] = {}
        self.asked: list[str] = []
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                registry.asked.append(self.path)
                body = registry.tarballs.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.end_headers()
                self.wfile.write(body or b"not found")

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def publish(self, name: str, tarball: bytes) -> None:
        self.tarballs[f"/{name}/-/{name}-1.0.0.tgz"] = tarball


@pytest.fixture
def registry() -> Iterator[Registry]:
    running = Registry()
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield running
    finally:
        running.server.shutdown()
        running.server.server_close()


def test_the_pinned_files_are_fetched_verified_and_kept(registry: Registry, tmp_path: Path) -> None:
    files = {"dist/widget.min.js": SCRIPT, "dist/widget.min.css": STYLE}
    tarball = _tarball({**files, "README.md": b"not wanted", "src/huge.js": b"x" * 1000})
    registry.publish("widget", tarball)
    manifest = Manifest(registry.url, (_pin("widget", tarball, files),))
    said: list[str] = []
    fetch_assets(manifest, tmp_path, say=said.append)
    package = manifest.packages[0]
    assert asset_path(tmp_path, package, "dist/widget.min.js").read_bytes() == SCRIPT
    assert sorted(
        p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()
    ) == [
        "widget@1.0.0/dist/widget.min.css",
        "widget@1.0.0/dist/widget.min.js",
    ]
    assert missing(manifest, tmp_path) == []
    assert "2 files verified" in said[0]
    # Present and as pinned: not downloaded again.
    fetch_assets(manifest, tmp_path, say=said.append)
    assert len(registry.asked) == 1 and "already" in said[1]


def test_a_tarball_other_than_the_pinned_one_is_refused(registry: Registry, tmp_path: Path) -> None:
    files = {"widget.js": SCRIPT}
    pinned = _tarball(files)
    registry.publish("widget", _tarball({"widget.js": b"window.stealTokens();\n"}))
    manifest = Manifest(registry.url, (_pin("widget", pinned, files),))
    with pytest.raises(AssetError, match="not the tarball pinned"):
        fetch_assets(manifest, tmp_path, say=lambda _: None)
    assert list(tmp_path.iterdir()) == []


def test_a_file_other_than_the_pinned_one_is_refused(registry: Registry, tmp_path: Path) -> None:
    tarball = _tarball({"widget.js": SCRIPT, "widget.css": STYLE})
    registry.publish("widget", tarball)
    package = _pin("widget", tarball, {"widget.js": SCRIPT, "widget.css": b"other"})
    with pytest.raises(AssetError, match=r"widget.css does not match"):
        fetch_assets(Manifest(registry.url, (package,)), tmp_path, say=lambda _: None)
    # Not even the file that matched is written: a package is installed whole or not at all.
    assert list(tmp_path.iterdir()) == []


def test_links_and_absent_files_are_refused(registry: Registry, tmp_path: Path) -> None:
    tarball = _tarball({"widget.js": SCRIPT}, links={"widget.css": "/etc/passwd"})
    registry.publish("widget", tarball)
    linked = _pin("widget", tarball, {"widget.css": STYLE})
    with pytest.raises(AssetError, match="not a regular file"):
        fetch_assets(Manifest(registry.url, (linked,)), tmp_path, say=lambda _: None)
    absent = _pin("widget", tarball, {"widget.map": b""})
    with pytest.raises(AssetError, match=r"has no file widget\.map"):
        fetch_assets(Manifest(registry.url, (absent,)), tmp_path, say=lambda _: None)
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_registry_is_named(tmp_path: Path) -> None:
    package = _pin("widget", b"", {"widget.js": SCRIPT})
    with pytest.raises(AssetError, match=re.escape("could not download http://127.0.0.1:9/widget")):
        fetch_assets(Manifest("http://127.0.0.1:9", (package,)), tmp_path, say=lambda _: None)


def test_the_command_takes_a_registry_mirror_and_a_directory(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The real manifest, served by a mirror that has none of it: the error names the URL
    # the manifest's pins lead to, and the command fails without writing anything.
    code = main(["explorer", "fetch", "--dir", str(tmp_path), "--registry", registry.url])
    assert code == 2
    assert f"{registry.url}/react/-/react-18.3.1.tgz" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_the_manifest_pins_each_package_and_file() -> None:
    manifest = load_manifest()
    assert manifest.registry == "https://registry.npmjs.org"
    assert {p.key for p in manifest.packages} == {
        "react@18.3.1",
        "react-dom@18.3.1",
        "graphiql@3.9.0",
    }
    for package in manifest.packages:
        assert package.integrity.startswith("sha512-")
        assert len(base64.b64decode(package.integrity.removeprefix("sha512-"))) == 64
        assert package.tarball_url(manifest.registry) == (
            f"https://registry.npmjs.org/{package.name}/-/{package.name}-{package.version}.tgz"
        )
