"""Tables of plugin names, resolved lazily.

A table maps a public name to ``"module:attribute"``. Nothing is imported until
a name is resolved, so ``w2s list`` and config validation never import torch-
heavy plugin code. Unknown names fail with the closest matches.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import importlib.util
from collections.abc import Iterable, Mapping

from w2s.core.errors import W2SError


def suggest(name: str, choices: Iterable[str]) -> str:
    """A sentence naming the closest matches of ``name`` among ``choices``."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    if close:
        return "did you mean " + ", ".join(repr(c) for c in close) + "?"
    return "known: " + ", ".join(choices)


class Registry:
    """A named table of lazily imported plugin classes."""

    def __init__(self, kind: str, table: Mapping[str, str]):
        self.kind = kind
        self._table = dict(table)

    def names(self) -> list[str]:
        return sorted(self._table)

    def __contains__(self, name: str) -> bool:
        return name in self._table

    def check(self, name: str) -> None:
        """Raise a one-line error if ``name`` is not in the table."""
        if name not in self._table:
            raise W2SError(f"unknown {self.kind} {name!r}: {suggest(name, self._table)}")

    def describe(self, name: str) -> tuple[str, str]:
        """(usage, one line) from the first line of the class docstring, read without importing
        the plugin (so ``w2s list`` never loads torch): ``"``pyiqa:NAME`` — what it is"`` gives
        ``("pyiqa:NAME", "what it is")``; a docstring without the usage part gives the name.

        It is the same text as the class's ``describe()`` (the protocols' member), which a test checks.
        """
        self.check(name)
        module, _, attr = self._table[name].partition(":")
        source = importlib.util.find_spec(module).origin
        tree = ast.parse(open(source, encoding="utf-8").read())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name == attr:
                return split_description(first_line(ast.get_docstring(node) or attr), name)
        # a name bound by assignment (an alias): import it after all
        return split_description(self.resolve(name).describe(), name)

    def resolve(self, name: str):
        """Import and return the class registered under ``name``."""
        self.check(name)
        module, _, attr = self._table[name].partition(":")
        return getattr(importlib.import_module(module), attr)


class DescribedByDocstring:
    """A plugin describes itself once, in its class docstring: ``describe()`` is the first line,
    the same text ``Registry.describe`` reads without importing the plugin."""

    @classmethod
    def describe(cls) -> str:
        return first_line(cls.__doc__ or cls.__name__)


def first_line(docstring: str) -> str:
    return docstring.strip().splitlines()[0]


def split_description(line: str, name: str) -> tuple[str, str]:
    usage, sep, text = line.partition(" — ")
    if sep and usage.startswith("``") and usage.endswith("``"):
        return usage.strip("`"), text.replace("``", "")
    return name, line.replace("``", "")
