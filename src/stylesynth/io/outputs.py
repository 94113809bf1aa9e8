"""Where a command may write: never onto one of its own inputs.

Every command names its outputs and its inputs here before any work starts. Paths are compared
as the file system sees them (symlinks and `..` resolved, hard links by inode), so
`-o ./o/../o/photo.png` or a symlink to the photo is the photo, and the refusal is one line with
exit status 2 and nothing written.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import InputError
from .images import needs_sidecar, one_line, sidecar


def resolved(path: str | os.PathLike) -> Path:
    """`path` as the file system reaches it: absolute, `..` and symlinks resolved."""
    return Path(os.path.realpath(os.path.abspath(path)))


def _keys(path: str | os.PathLike) -> set:
    """What identifies the file `path` reaches: its resolved name and, if it exists, its inode
    (a hard link has another name but the same inode)."""
    keys: set = {resolved(path)}
    try:
        stat = os.stat(path)
        keys.add((stat.st_dev, stat.st_ino))
    except OSError:  # it does not exist (yet): only the names can meet
        pass
    return keys


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether writing `a` would change `b` (the same name once resolved, or a hard link)."""
    return bool(_keys(a) & _keys(b))


def input_paths(*values: Any) -> list[str]:
    """The file names among a command's input values: strings and paths, also inside the
    (path, weight) pairs and lists the modes take. Values that name no file ('palette',
    'noise', a number) are left out."""
    found: list[str] = []
    for value in values:
        if isinstance(value, (str, os.PathLike)):
            if os.path.exists(value):
                found.append(os.fspath(value))
        elif isinstance(value, (list, tuple)):
            found.extend(input_paths(*value))
    return found


def refuse_overwriting(outputs: dict[str, str | os.PathLike], inputs: Iterable[str | os.PathLike]) -> None:
    """Refuse (InputError, exit 2) an output that is one of `inputs`, or two outputs that are
    one file. `outputs` maps what each one is ("output", "--loss-plot") to its path."""
    named = [(what, path) for what, path in outputs.items() if path is not None]
    # A JPEG or WebP result brings its record along: OUT.jpg.json is written too.
    named += [(f"{what}'s record", sidecar(path)) for what, path in named if needs_sidecar(path)]
    # Indexed once, so that a batch of thousands of jobs costs a look-up per output.
    sources = {key: source for source in inputs for key in _keys(source)}
    written: dict = {}
    for what, path in named:
        keys = _keys(path)
        for key in keys:
            if key in sources:
                source = sources[key]
                shown = path if str(path) == str(source) else f"{path} (that is {source})"
                raise InputError(one_line(f"{what} {shown} is an input of this command: writing it "
                                           "would destroy the input; write the result elsewhere"))
        for key in keys:
            if key in written:
                raise InputError(one_line(f"{written[key]} and {what} are one file ({path}): give them "
                                           "different names"))
        written.update(dict.fromkeys(keys, what))


def inside(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """Whether `path` is `folder` or lies under it, once both are resolved."""
    return resolved(folder) in (resolved(path), *resolved(path).parents)
