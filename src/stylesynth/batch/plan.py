"""A batch's jobs: photos × paintings, or the rows of a manifest, checked before any work starts.

Every job is one `stylesynth.transfer(content, style, **options)` whose result goes to one
output file. Everything that can be known wrong before the work starts is refused here, with
the manifest's line number: a missing column, an unknown option, a bad value, an image that
cannot be read, two jobs writing the same output. Such a batch writes nothing.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..errors import InputError
from ..io.images import SAVE_FORMATS, open_image, read_params
from ..io.outputs import inside, refuse_overwriting, resolved
from ..names import INITS
from ..options import JOB_OPTIONS, RunOptions, TransferOptions, parse
from ..pyramid import check_iterations

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
MANIFEST_COLUMNS = ("content", "style", "output")  # content and style required; output optional
LOG_NAME = "batch.jsonl"  # in OUTDIR: one line per job done or failed
IDENTITY_KEY = "batch_job"  # the record's entry holding Job.identity(): marks a batch's result


RUN_OPTION_NAMES = set(RunOptions.__dataclass_fields__)


@dataclass(frozen=True)
class Job:
    """One transfer of the batch and where its result goes."""

    content: str  # paths as the user gave them (the record says these)
    style: str
    output: Path
    options: dict[str, Any] = field(default_factory=dict)  # transfer options, JSON values only
    line: int | None = None  # the manifest's line, for messages
    content_sha256: str = ""
    style_sha256: str = ""

    @property
    def name(self) -> str:
        where = f" (line {self.line})" if self.line else ""
        return f"{Path(self.content).name} × {Path(self.style).name}{where}"

    def identity(self) -> dict[str, Any]:
        """What makes two jobs the same: stored with the output, so that a rerun skips the job
        only if the same inputs (by content, not just name) and options made that file."""
        return {"content": self.content, "content_sha256": self.content_sha256,
                "style": self.style, "style_sha256": self.style_sha256,
                "options": dict(sorted(self.options.items()))}


def output_name(content: str, style: str, suffix: str = ".png") -> str:
    """The predictable name of a photo × painting result: `{content_stem}--{style_stem}.png`."""
    return f"{Path(content).stem}--{Path(style).stem}{suffix}"


# --------------------------------------------------------------------------- building the plan


def jobs_from_paths(contents: Iterable[str | os.PathLike], styles: Iterable[str | os.PathLike],
                    output_dir: str | os.PathLike, options: dict[str, Any] | None = None) -> list[Job]:
    """Every photo (files, folders of images, globs) with every painting, into `output_dir`."""
    photos = [p for source in contents for p in _expand(source, "photo")]
    paintings = [p for source in styles for p in _expand(source, "painting")]
    if not photos:
        raise InputError("no photos: give CONTENT files, folders or globs (or --manifest FILE)")
    if not paintings:
        raise InputError("no paintings: give at least one --style FILE")
    common = check_options(options or {}, "")
    out = Path(output_dir)
    return check_jobs([Job(photo, painting, out / output_name(photo, painting), common)
                       for photo in photos for painting in paintings])


def _expand(source: str | os.PathLike, what: str) -> list[str]:
    """A file as it is; a folder's images (sorted, not recursive); a glob's matches (sorted)."""
    text = str(source)
    path = Path(text)
    if path.is_dir():
        found = sorted(str(p) for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                       and not is_batch_result(p))
        if not found:
            raise InputError(f"{text} is a folder without images ({', '.join(IMAGE_SUFFIXES)})")
        return found
    if not path.exists() and glob.has_magic(text):
        found = sorted(p for p in glob.glob(text) if Path(p).is_file() and not is_batch_result(Path(p)))
        if not found:
            raise InputError(f"no {what} matches {text}")
        return found
    return [text]  # a missing file is reported, with the others, by check_jobs


def is_batch_result(path: Path) -> bool:
    """Whether `path` is the result of a batch job: a folder of photos that is also a batch's
    output folder must not have last run's results painted again as new photos."""
    try:
        record = read_params(path)
    except InputError:
        return False  # not ours (check_jobs says what is wrong with it, if it is a photo)
    return isinstance(record, dict) and IDENTITY_KEY in record


def jobs_from_manifest(manifest: str | os.PathLike, output_dir: str | os.PathLike,
                       options: dict[str, Any] | None = None) -> list[Job]:
    """The rows of a CSV file (with a header) or of JSON lines: content, style, output and any
    of JOB_OPTIONS. Paths are relative to the manifest's folder, outputs to `output_dir`; a
    row's options override `options` (the command line's)."""
    path = Path(manifest)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"no such manifest: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read manifest {path}: {exc}") from None
    json_lines = path.suffix.lower() in (".jsonl", ".ndjson", ".json") or text.lstrip().startswith("{")
    rows = _json_rows(text, path) if json_lines else _csv_rows(text, path)
    if not rows:
        raise InputError(f"{path}: no jobs (an empty manifest)")
    common = check_options(options or {}, "")
    base, out = path.parent, Path(output_dir)
    jobs = []
    for line, row in rows:
        where = f"{path} line {line}: "
        unknown = sorted(set(row) - set(MANIFEST_COLUMNS) - set(JOB_OPTIONS))
        if unknown:
            raise InputError(f"{where}unknown column(s) {', '.join(unknown)}: known are "
                             f"{', '.join(MANIFEST_COLUMNS + tuple(JOB_OPTIONS))}")
        for column in ("content", "style"):
            if row.get(column) in (None, ""):
                raise InputError(f"{where}no {column} (every row needs content and style)")
            if not isinstance(row[column], str):
                raise InputError(f"{where}{column} must be a path, got {row[column]!r}")
        content, style = (str(base / row[c]) if not os.path.isabs(row[c]) else row[c] for c in ("content", "style"))
        output = row.get("output") or output_name(row["content"], row["style"])
        if not isinstance(output, str) or "\0" in output:
            raise InputError(f"{where}output must be a file name, got {output!r}")
        if os.path.isabs(output) or not inside(out / output, out) or resolved(out / output) == resolved(out):
            # An untrusted manifest must not write wherever it likes.
            raise InputError(f"{where}output {output} is outside the output folder {out}: name a file "
                             "inside it (relative, without '..')")
        given = {k: v for k, v in row.items() if k in JOB_OPTIONS and v not in (None, "")}
        jobs.append(Job(content, style, out / output, check_options({**common, **given}, where), line))
    return check_jobs(jobs, path)


def _csv_rows(text: str, path: Path) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [c for c in ("content", "style") if c not in header]
    if missing:
        raise InputError(f"{path} line 1: no {' or '.join(missing)} column (the header needs content "
                         "and style; output and options such as size, preset, ratio, seed are optional)")
    if len(set(header)) != len(header):
        raise InputError(f"{path} line 1: a column is named twice")
    unknown = [name for name in header if name not in MANIFEST_COLUMNS and name not in JOB_OPTIONS]
    if unknown:
        raise InputError(f"{path} line 1: unknown column(s) {', '.join(unknown)}: known are "
                         f"{', '.join(MANIFEST_COLUMNS + tuple(JOB_OPTIONS))}")
    reader.fieldnames = header
    rows = []
    for row in reader:
        if None in row:  # more cells than the header has names
            raise InputError(f"{path} line {reader.line_num}: more cells than columns")
        cells = {k: (v.strip() if isinstance(v, str) else v) for k, v in row.items()}
        if all(v in (None, "") for v in cells.values()):
            continue  # a blank line
        rows.append((reader.line_num, cells))
    return rows


def _json_rows(text: str, path: Path) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for line, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path} line {line}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise InputError(f"{path} line {line}: a row is a JSON object, e.g. "
                             '{"content": "a.jpg", "style": "b.jpg"}')
        for column in ("content", "style"):
            if column not in row:
                raise InputError(f"{path} line {line}: no {column} (every row needs content and style)")
        rows.append((line, row))
    return rows


def check_options(options: dict[str, Any], where: str) -> dict[str, Any]:
    """Options converted to their types and checked as far as that is possible without running:
    names, numbers, choices. (An unknown layer name, say, fails the job itself.)"""
    unknown = sorted(set(options) - set(JOB_OPTIONS))
    if unknown:
        raise InputError(f"{where}option(s) {', '.join(unknown)} cannot vary per job in a batch: "
                         f"known are {', '.join(JOB_OPTIONS)}")
    try:
        converted = {name: parse(name, value) for name, value in options.items() if value is not None}
        if "init" in converted and converted["init"] not in INITS:
            raise InputError(f"init must be one of {', '.join(INITS)} in a batch, got {converted['init']!r}")
        run = {k: v for k, v in converted.items() if k in RUN_OPTION_NAMES and (k, v) != ("size", "original")}
        RunOptions(**run).check()
        check_iterations(converted.get("iterations"), converted.get("scales"))
        TransferOptions(**{k: v for k, v in converted.items() if k not in RUN_OPTION_NAMES}).check()
    except InputError as exc:
        raise InputError(f"{where}{exc}") from None
    return converted


def check_jobs(jobs: list[Job], manifest: Path | None = None) -> list[Job]:
    """Refuse unreadable images, unwritable output names and two jobs writing one file; return
    the jobs with their inputs' hashes. Each distinct image is read and decoded once."""
    hashes: dict[str, str] = {}
    by_output: dict[Path, Job] = {}
    checked = []
    for job in jobs:
        where = f"{manifest} line {job.line}: " if manifest else ""
        for source in (job.content, job.style):
            if source not in hashes:
                try:
                    open_image(source)  # decodes it all: a truncated file fails now
                    hashes[source] = hashlib.sha256(Path(source).read_bytes()).hexdigest()
                except InputError as exc:
                    raise InputError(f"{where}{exc}") from None
                except OSError as exc:
                    raise InputError(f"{where}cannot read {source}: {exc.strerror or exc}") from None
        if job.output.suffix.lower() not in SAVE_FORMATS:
            raise InputError(f"{where}output {job.output.name}: use .png, .jpg or .webp")
        if job.output.is_dir():
            raise InputError(f"{where}output {job.output} is a folder: name an image file")
        key = resolved(job.output)  # two names of one file (a symlinked folder) are one output
        if key.name == LOG_NAME:
            raise InputError(f"{where}output {job.output.name} is the batch's own log: name it otherwise")
        if key in by_output:
            first = by_output[key]
            this, other = ("this line", f"line {first.line}") if first.line else (job.name, first.name)
            raise InputError(f"{where}two jobs write {job.output}: {this} and {other} (name the outputs apart)")
        by_output[key] = job
        checked.append(Job(job.content, job.style, job.output, job.options, job.line,
                           hashes[job.content], hashes[job.style]))
    # One job's result must not replace another's photo or painting (hashed above, read later).
    refuse_overwriting({(f"{manifest} line {job.line}: output" if manifest else f"{job.name}: output"): job.output
                        for job in jobs}, hashes)
    return checked
