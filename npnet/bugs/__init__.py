"""A catalogue of classic backprop bugs, each planted in a copy of npnet's real code (docs/bugs.md).

A ``Bug`` is one or more ``Patch``es: a line (or a few) of a real method of
npnet and what a learner writes instead. ``bug.planted()`` compiles the real
method's source with that change and puts it in place of the method on the
real class, for the duration of a ``with`` block, so every tool sees the
bug exactly where it would live: training, ``npnet.gradcheck``,
``model.trace``, ``npnet.testing``. ``bug.diff()`` is the change as a
unified diff against the current source; when the real code moves on, the
patch no longer applies and says so (the catalogue cannot drift).
``npnet.bugs.symptoms`` runs the tools on a bug; the entries are in
``npnet.bugs.catalogue``. ``python -m npnet.bugs NAME`` prints one.

A bug may patch one method in two places (fit's bias-trick path and the
textbook path of ``Dense.backward``): the patches of one method apply in
turn, to one source.
"""
from __future__ import annotations

import __future__
import contextlib
import difflib
import inspect
import os
import textwrap
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator


def _code(line: str) -> str:
    """A source line without its indentation and trailing comment: what a patch matches on."""
    return line.split("#")[0].strip()


@dataclass(frozen=True)
class Patch:
    """Replace the line(s) ``old`` of ``owner.method`` (matched without indentation and comments) by ``new``."""

    owner: type
    method: str
    old: str
    new: str

    @property
    def real_source(self) -> str:
        return textwrap.dedent(inspect.getsource(self.owner.__dict__[self.method]))

    @property
    def where(self) -> str:
        """``npnet/layers/dense.py (Dense.backward)``: the file, relative to the repository, and the method."""
        path = inspect.getsourcefile(self.owner.__dict__[self.method])
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        return f"{os.path.relpath(path, package_root)} ({self.owner.__name__}.{self.method})"

    def patched_source(self, source: str | None = None) -> str:
        """``source`` (by default the method's real source) with ``old`` replaced by ``new``, re-indented to match.

        A line of ``new`` whose code is that of a replaced line stays as it was,
        comment included: a patch adds lines after a line it keeps that way.
        """
        lines = (self.real_source if source is None else source).splitlines()
        old = [_code(line) for line in self.old.splitlines()]
        starts = [i for i in range(len(lines)) if [_code(line) for line in lines[i:i + len(old)]] == old]
        if len(starts) != 1:
            raise LookupError(f"{self.where}: the line(s) {self.old!r} are not in the real code exactly once "
                              f"(found {len(starts)}): the code has changed, update the bug")
        start = starts[0]
        indent = lines[start][:len(lines[start]) - len(lines[start].lstrip())]
        kept = {_code(line): line for line in lines[start:start + len(old)]}
        new = [kept.get(_code(line), indent + line if line else line) for line in self.new.splitlines()]
        return "\n".join(lines[:start] + new + lines[start + len(old):]) + "\n"

    def compile(self, source: str) -> Callable[..., Any]:
        """The method's ``source`` (patched) compiled as a function in the real method's module (same globals)."""
        real = self.owner.__dict__[self.method]
        namespace = dict(real.__globals__)
        code = compile(source, f"<npnet.bugs: {self.where}>", "exec",
                       flags=__future__.annotations.compiler_flag, dont_inherit=True)   # as the real module
        exec(code, namespace)
        return namespace[self.method]


@dataclass(frozen=True)
class Bug:
    """One classic bug: its name, a one-line title, where it lives, the patches, and how to show it.

    ``model`` holds keyword arguments for ``symptoms.catalogue_model`` (a
    different hidden activation, an optimizer) where the bug needs them.
    """

    name: str
    title: str
    patches: tuple[Patch, ...]
    model: dict[str, Any] = field(default_factory=dict)

    def methods(self) -> list[tuple[Patch, str]]:
        """Each patched method once, in the patches' order: its first patch, and its source with all its patches."""
        sources: dict[tuple[type, str], tuple[Patch, str]] = {}
        for patch in self.patches:
            first, source = sources.get((patch.owner, patch.method), (patch, None))
            sources[patch.owner, patch.method] = first, patch.patched_source(source)
        return list(sources.values())

    @contextlib.contextmanager
    def planted(self) -> Iterator[None]:
        """Within the block, the real classes run the buggy methods; the real ones are put back after."""
        methods = [(patch, patch.compile(source)) for patch, source in self.methods()]   # all compile first
        originals = [(patch.owner, patch.method, patch.owner.__dict__[patch.method]) for patch, _ in methods]
        try:
            for patch, function in methods:
                setattr(patch.owner, patch.method, function)
            yield
        finally:
            for owner, method, original in originals:
                setattr(owner, method, original)

    def diff(self) -> str:
        """The bug as a unified diff against npnet's current source, one per patched method."""
        lines = []
        for patch, source in self.methods():
            path, method = patch.where.split(" ")
            for line in difflib.unified_diff(patch.real_source.splitlines(), source.splitlines(),
                                             fromfile=path, tofile="the bug", n=1, lineterm=""):
                # a hunk's line numbers count from the method's def, so name the method instead
                lines.append(f"@@ {method.strip('()')} @@" if line.startswith("@@") else line)
        return "\n".join(lines)
