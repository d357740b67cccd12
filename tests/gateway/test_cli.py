"""``fame-gateway`` without the demo world installed, as a deployment has it."""

from __future__ import annotations

import importlib.abc
import sys

import pytest

from gateway.cli import main


class _NotInstalled(importlib.abc.MetaPathFinder):
    """Finds no module of the demo world, wherever it lies on this machine."""

    def find_spec(self, fullname: str, path: object, target: object = None) -> None:
        if fullname.split(".")[0] == "fame_demo":
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)


@pytest.fixture
def no_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in sys.modules if name.split(".")[0] == "fame_demo"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_NotInstalled(), *sys.meta_path])


@pytest.mark.parametrize("command", [["demo"], ["token", "sw-patel"]])
@pytest.mark.usefixtures("no_demo")
def test_demo_commands_say_how_to_get_the_demo(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(command) == 2
    error = capsys.readouterr().err
    assert "fame_demo" in error
    assert "pip install -e ./demo" in error
    assert "Traceback" not in error


@pytest.mark.usefixtures("no_demo")
def test_other_commands_run_without_the_demo(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["items"]) == 0
    assert "demographics" in capsys.readouterr().out
