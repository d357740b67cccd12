"""Exceptions the gateway raises to people, each message saying what to do next, and the
collector that gathers one configuration file's problems so all are reported at once."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


class GatewayError(Exception):
    """Base class of the gateway's own errors."""


class ConfigError(GatewayError):
    """A configuration file is wrong; names the file, the key and what to write instead."""

    def __init__(self, file: Path | str, key: str, problem: str, fix: str) -> None:
        self.file = str(file)
        self.key = key
        self.problem = problem
        self.fix = fix
        super().__init__(f"{self.file}: {key}: {problem}. {fix}")


class ConfigErrors(GatewayError):
    """Several configuration errors found in one pass, so all can be fixed at once."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        lines = "\n".join(f"  - {error}" for error in errors)
        super().__init__(f"the configuration has {len(errors)} problem(s):\n{lines}")


class AuthenticationError(GatewayError):
    """The bearer token is missing or not acceptable; the message says which and why."""


class GovernanceError(GatewayError):
    """A consent or break-glass request that cannot be accepted; says why and what to do."""

    def __init__(self, message: str, code: str = "BAD_USER_INPUT") -> None:
        self.code = code
        super().__init__(message)


class Problems:
    """Collects configuration problems for one file so all are reported together."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.errors: list[ConfigError] = []

    def add(self, key: str, problem: str, fix: str) -> None:
        """Record one problem at ``key``."""
        self.errors.append(ConfigError(self.file, key, problem, fix))


def read_toml(file: Path) -> dict[str, Any]:
    """Parse a TOML configuration file, turning syntax and read errors into a ConfigError
    naming the file and the line."""
    try:
        with file.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            file, "(file)", f"is not valid TOML ({exc})", "Fix the syntax at that line."
        ) from exc
    except OSError as exc:
        raise ConfigError(
            file, "(file)", f"cannot be read ({exc.strerror})", "Check the path and permissions."
        ) from exc
