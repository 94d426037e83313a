"""Errors raised when a dataset's files are missing or do not have the expected format."""

from __future__ import annotations

import os


class DataError(Exception):
    """Base class of every dataset error; the message names the file, what was expected and how to get it."""


class MissingDataError(DataError, FileNotFoundError):
    """A dataset file or folder does not exist."""

    def __init__(self, path: str | os.PathLike, expected: str, how_to_get: str) -> None:
        self.path = os.fspath(path)
        super().__init__(f"{self.path} not found: expected {expected}. {how_to_get}")


class CorruptDataError(DataError, ValueError):
    """A dataset file exists but its contents do not have the expected format."""

    def __init__(self, path: str | os.PathLike, problem: str, how_to_get: str) -> None:
        self.path = os.fspath(path)
        super().__init__(f"{self.path}: {problem}. {how_to_get}")


def describe_folder(folder: str | os.PathLike) -> str:
    """What ``folder`` holds, in a few words: its sub-folders and files, the first three of each."""
    entries = sorted(os.scandir(folder), key=lambda e: e.name)
    dirs = [e.name + "/" for e in entries if e.is_dir()]
    files = [e.name for e in entries if not e.is_dir()]

    def some(names: list[str]) -> str:
        return "" if not names else " (" + ", ".join(names[:3]) + (", ..." if len(names) > 3 else "") + ")"

    return f"{len(dirs)} folder(s){some(dirs)} and {len(files)} file(s){some(files)}"


def hint(steps: str, dirname: str) -> str:
    """The 'how to get it' sentence of a dataset whose files go in `<dir>/<dirname>`."""
    return (
        f"To get it: {steps}, so that the files are in <dir>/{dirname}; "
        f"then set NORMACT_DATA=<dir> or pass root=<dir>/{dirname}"
    )
