"""Batch jobs (issue 18): plans and manifests checked before any work, the local backends, resume,
a failing job among good ones, Ctrl-C, and Ray (a local cluster whose worker is killed mid-run).

Every transfer here is small (64-96 px, one scale, a few iterations) on the real VGG16 weights,
with one torch thread per job so that every backend computes the same pixels.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import stylesynth
from stylesynth.batch import backends
from stylesynth.batch.plan import output_name

from conftest import EXAMPLES, run_cli

pytestmark = pytest.mark.usefixtures("vgg16_weights")

SRC = str(Path(__file__).resolve().parents[2] / "src")
PHOTOS = [EXAMPLES / "tubingen.jpg", EXAMPLES / "shipwreck.jpg"]
PAINTINGS = [EXAMPLES / "starry_night.jpg", EXAMPLES / "the_scream.jpg", EXAMPLES / "woman-with-hat-matisse.jpg"]
SMALL = {"size": 64, "scales": 1, "iterations": 12, "seed": 7}
OPTIONS = ["--size", "64", "--scales", "1", "--iterations", "12", "--seed", "7", "--threads", "1"]


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def log_lines(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "batch.jsonl").read_text().splitlines()]


def assert_same_images(a: Path, b: Path, names: list[str]) -> None:
    for name in names:
        difference = np.abs(pixels(a / name) - pixels(b / name)).max()
        assert difference <= 1, f"{name}: {difference} grey levels apart"


@pytest.fixture(scope="module")
def local_batch(tmp_path_factory) -> tuple[Path, list[dict]]:
    """The 2 photos x 3 paintings batch, run here one job at a time (the default backend)."""
    out = tmp_path_factory.mktemp("local")
    lines = stylesynth.batch(PHOTOS, PAINTINGS, out, threads=1, progress=False, **SMALL)
    return out, lines


NAMES = [output_name(str(p), str(s)) for p in PHOTOS for s in PAINTINGS]


# --------------------------------------------------------------------------- local backends


def test_local_batch_writes_every_result_with_its_record_and_a_log(local_batch):
    out, lines = local_batch
    assert [line["status"] for line in lines] == ["done"] * 6
    assert sorted(p.name for p in out.iterdir()) == sorted(NAMES + ["batch.jsonl"])
    logged = {line["output"]: line for line in log_lines(out)}
    assert len(logged) == 6
    for name in NAMES:
        record = stylesynth.read_params(out / name)
        assert logged[str(out / name)]["record"] == record
        assert record["seed"] == 7 and record["size"][0] == 64 and not record["interrupted"]
        assert record["batch_job"]["options"] == SMALL
    # Each job is the plain transfer with the same seed.
    alone = stylesynth.transfer(PHOTOS[1], PAINTINGS[2], threads=1, progress=False, **SMALL)
    assert np.abs(np.asarray(alone).astype(int) - pixels(out / NAMES[5])).max() <= 1


def test_process_pool_gives_the_same_images_as_one_job_at_a_time(local_batch, tmp_path):
    out, _ = local_batch
    pool = tmp_path / "pool"
    code = run_cli(["batch", *PHOTOS, *[a for p in PAINTINGS for a in ("--style", p)], "-o", pool,
                    *OPTIONS, "--jobs", "2", "--quiet"])
    assert code == 0
    assert {line["pid"] for line in log_lines(pool)} != {os.getpid()}  # ran in the pool's processes
    assert len({line["pid"] for line in log_lines(pool)}) == 2
    assert_same_images(out, pool, NAMES)


def test_a_rerun_skips_what_is_done_and_redoes_what_changed(local_batch, tmp_path, capsys):
    out, _ = local_batch
    folder = tmp_path / "resume"
    folder.mkdir()
    for name in NAMES:
        (folder / name).write_bytes((out / name).read_bytes())
    (folder / NAMES[0]).unlink()  # one result missing
    Image.new("RGB", (64, 48)).save(folder / NAMES[1])  # one with no record: made by something else
    stamps = {name: (folder / name).stat().st_mtime_ns for name in NAMES[2:]}
    args = ["batch", *PHOTOS, *[a for p in PAINTINGS for a in ("--style", p)], "-o", folder, "--json", "--quiet"]
    assert run_cli([*args, *OPTIONS]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    status = {Path(line["output"]).name: line["status"] for line in lines}
    assert status == {**{name: "skipped" for name in NAMES[2:]}, NAMES[0]: "done", NAMES[1]: "done"}
    assert {name: (folder / name).stat().st_mtime_ns for name in NAMES[2:]} == stamps
    assert_same_images(out, folder, NAMES)
    # Another seed is another job: all six are done again.
    assert run_cli([*args, *OPTIONS, "--seed", "8"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["status"] for line in lines] == ["done"] * 6
    assert all(line["record"]["seed"] == 8 for line in lines)


def test_a_failing_job_is_reported_and_the_others_go_on(tmp_path, capsys):
    manifest = tmp_path / "jobs.csv"
    # Size 16 is a valid number but too small for relu5_1: only the job itself can find out.
    manifest.write_text("content,style,size\n"
                        f"{PHOTOS[0]},{PAINTINGS[0]},\n"
                        f"{PHOTOS[0]},{PAINTINGS[1]},16\n"
                        f"{PHOTOS[1]},{PAINTINGS[0]},\n")
    out = tmp_path / "out"
    code = run_cli(["batch", "--manifest", manifest, "-o", out, "--size", "64", "--scales", "1",
                    "--iterations", "3", "--threads", "1", "--evaluate"])
    err = capsys.readouterr().err
    assert code == 1
    assert "job failed: tubingen.jpg × the_scream.jpg (line 3): the output would be 16x12 px" in err
    assert "1 of 3 jobs failed" in err and "Traceback" not in err
    lines = log_lines(out)
    assert [line["status"] for line in lines] == ["done", "failed", "done"]
    assert lines[1]["line"] == 3 and "too small" in lines[1]["error"]
    assert (out / "tubingen--starry_night.png").is_file() and (out / "shipwreck--starry_night.png").is_file()
    assert not (out / "tubingen--the_scream.png").exists()
    # --evaluate: the judge's numbers of each result, as `stylesynth evaluate` gives them.
    judged = stylesynth.evaluate(PHOTOS[1], PAINTINGS[0], out / "shipwreck--starry_night.png")[0]
    assert lines[2]["evaluate"] == {"content": judged.content, "style": judged.style}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_cancels_the_running_jobs_and_keeps_the_finished_ones(tmp_path, spawn, signum):
    """Ctrl-C, or SIGTERM to the process group (`timeout`, a service manager), with the
    `stylesynth` script: its workers import the package as the command line does."""
    script = Path(sys.executable).with_name("stylesynth")
    if not script.is_file():
        pytest.skip(f"no {script}")
    out = tmp_path / "out"
    # Two workers (one short job each, then long ones): Ctrl-C once the first result is in.
    manifest = tmp_path / "jobs.jsonl"
    rows = [{"content": str(PHOTOS[0]), "style": str(PAINTINGS[0]), "iterations": 2},
            {"content": str(PHOTOS[1]), "style": str(PAINTINGS[0]), "iterations": 2}]
    rows += [{"content": str(p), "style": str(s), "iterations": 100_000} for p in PHOTOS for s in PAINTINGS[1:]]
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    process = spawn([script, "batch", "--manifest", manifest, "-o", out,
                     "--size", "64", "--scales", "1", "--jobs", "2", "--threads", "1"],
                    stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True,
                    env={**os.environ, "PYTHONPATH": SRC})
    deadline = time.monotonic() + 240
    while len(list(out.glob("*.png"))) < 2:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the short jobs never finished"
        time.sleep(0.1)
    time.sleep(3)  # the long jobs are running now
    workers = children(process.pid)
    assert len(workers) >= 2  # the pool's two workers (and its resource tracker)
    os.killpg(process.pid, signum)  # as a terminal's Ctrl-C: the whole process group
    stdout, err = process.communicate(timeout=60)

    assert process.returncode == 128 + signum, err
    assert f"interrupted ({signum.name}): saved 2 of 6 results" in err and "Traceback" not in err
    assert "stylesynth: interrupted\n" not in err, err  # no line of a worker's
    assert "leaked semaphore" not in err, err  # issue 33: the pool's resource tracker complained
    assert sorted(p.name for p in out.iterdir()) == ["batch.jsonl", "shipwreck--starry_night.png",
                                                     "tubingen--starry_night.png"]  # no temporary files
    assert [line["status"] for line in log_lines(out)] == ["done", "done"]
    assert all(stylesynth.read_params(p)["iterations_done"] == 2 for p in out.glob("*.png"))
    deadline = time.monotonic() + 10  # the pool's workers were killed; its helpers exit on their own
    while [pid for pid in workers if not gone(pid)] and time.monotonic() < deadline:
        time.sleep(0.1)
    left = {pid: Path(f"/proc/{pid}/cmdline").read_bytes() for pid in workers if not gone(pid)}
    assert not left


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGHUP])
def test_killing_the_driver_ends_its_workers_and_frees_the_callers_pipe(tmp_path, spawn, signum):
    """Issue 33: `kill -9` (or SIGHUP) of a `--jobs 2` driver left both workers running for
    minutes, holding its stdout, so `stylesynth batch ... | tee` hung."""
    out = tmp_path / "out"
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text("".join(json.dumps({"content": str(p), "style": str(PAINTINGS[0]), "iterations": 100_000})
                                + "\n" for p in PHOTOS))
    process = spawn([sys.executable, "-m", "stylesynth.cli", "batch", "--manifest", manifest, "-o", out,
                     "--size", "64", "--scales", "1", "--jobs", "2", "--threads", "1", "--quiet"],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                    env={**os.environ, "PYTHONPATH": SRC})
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while len(workers) < 2:  # the pool's workers (the resource tracker is a child too)
            assert process.poll() is None and time.monotonic() < deadline, "no workers started"
            workers = [pid for pid in children(process.pid)
                       if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
            time.sleep(0.2)
        time.sleep(2)  # a job is running in each
        before = sorted(p.name for p in out.iterdir())
        os.kill(process.pid, signum)
        closed = threading.Event()
        threading.Thread(target=lambda: (process.stdout.read(), process.stderr.read(), closed.set()),
                         daemon=True).start()
        assert closed.wait(15), "the caller's pipes are still held open 15 s after the driver died"
        deadline = time.monotonic() + 5
        while [pid for pid in workers if not gone(pid)] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [pid for pid in workers if not gone(pid)] == []
        assert process.wait(timeout=10) == -signum
        assert sorted(p.name for p in out.iterdir()) == before == []  # nothing half-written
    finally:
        for pid in workers:
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def gone(pid: int) -> bool:
    """Exited: no such process any more, or a zombie not yet reaped."""
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) == "Z"
    except OSError:
        return True


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        todo += (more := children(todo.pop()))
        found += more
    return found


def title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return ""


# Ray's own helpers on a node, which run no job and hold none of the caller's pipes: when
# their raylet is gone they first try to tell its (also gone) GCS, and exit about a minute later.
RAY_AGENTS = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGHUP, signal.SIGTERM])
def test_killing_a_ray_driver_ends_its_workers_and_frees_the_callers_pipe(tmp_path, spawn, signum):
    """Issue 33 done-when 4 on Ray (`batch --ray`, a local instance): kill -9 or SIGHUP of the
    driver ends Ray's workers within seconds (Ray's GCS and raylet share the driver's fate, the
    workers their raylet's); SIGTERM stops the batch as Ctrl-C does (before: ray.init had taken
    SIGTERM over, a stack dump and status 1)."""
    pytest.importorskip("ray")
    out = tmp_path / "out"
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text("".join(json.dumps({"content": str(p), "style": str(PAINTINGS[0]), "iterations": 100_000})
                                + "\n" for p in PHOTOS))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")]))}
    process = spawn(loopback_namespace() + [sys.executable, Path(__file__).parent / "ray_on_loopback.py", "stylesynth",
                                            "batch", "--manifest", manifest, "-o", out, "--size", "64", "--scales", "1",
                                            "--ray", "--threads", "1"],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, env=env)
    ray_processes: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while len([pid for pid in descendants(process.pid) if title(pid).startswith("ray::run_batch_job ")]) < 2:
            assert process.poll() is None and time.monotonic() < deadline, "the jobs never started"
            time.sleep(0.2)
        ray_processes = descendants(process.pid)  # GCS, raylet, its agents and workers
        workers = [pid for pid in ray_processes if not title(pid).startswith(RAY_AGENTS)]
        os.kill(process.pid, signum)
        closed, err = threading.Event(), []
        threading.Thread(target=lambda: (process.stdout.read(), err.append(process.stderr.read().decode()),
                                         closed.set()), daemon=True).start()
        assert closed.wait(15), "the caller's pipes are still held open 15 s after the driver died"
        deadline = time.monotonic() + 10
        while [pid for pid in workers if not gone(pid)] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [title(pid) for pid in workers if not gone(pid)] == []
        assert process.wait(timeout=10) == (128 + signum if signum == signal.SIGTERM else -signum)
        assert sorted(p.name for p in out.iterdir()) == []  # nothing half-written
        if signum == signal.SIGTERM:  # stopped as by Ctrl-C: Ray shut down, its agents too
            assert err[0].splitlines()[-1] == f"stylesynth: interrupted (SIGTERM): saved 0 of 2 results in {out} " \
                "(the same command continues)", err[0]
            assert "Traceback" not in err[0] and "***" not in err[0], err[0]
            assert [title(pid) for pid in ray_processes if not gone(pid)] == []
    finally:
        for pid in ray_processes:
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)


# --------------------------------------------------------------------------- bad plans


def write_manifest(tmp_path: Path, rows: list[str]) -> Path:
    manifest = tmp_path / "jobs.csv"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest


@pytest.fixture
def broken(tmp_path) -> Path:
    """A truncated JPEG beside the manifests."""
    data = (EXAMPLES / "tubingen.jpg").read_bytes()
    path = tmp_path / "broken.jpg"
    path.write_bytes(data[: len(data) // 3])
    return path


BAD_MANIFESTS = {
    "missing column": (["content,output", f"{PHOTOS[0]},a.png"],
                       "line 1: no style column"),
    "unreadable image": (["content,style", f"{PHOTOS[0]},{PAINTINGS[0]}", f"{PHOTOS[1]},{PAINTINGS[0]}",
                          f"broken.jpg,{PAINTINGS[1]}"],
                         "line 4: {dir}/broken.jpg is truncated or corrupt"),
    "duplicate output": (["content,style,output", f"{PHOTOS[0]},{PAINTINGS[0]},a.png",
                          f"{PHOTOS[1]},{PAINTINGS[0]},b.png", f"{PHOTOS[1]},{PAINTINGS[1]},a.png"],
                         "line 4: two jobs write {out}/a.png: this line and line 2"),
    "missing file": (["content,style", f"{PHOTOS[0]},{PAINTINGS[0]}", f"nowhere.jpg,{PAINTINGS[0]}"],
                     "line 3: no such file: {dir}/nowhere.jpg"),
    "bad value": (["content,style,size", f"{PHOTOS[0]},{PAINTINGS[0]},big"], "line 2: bad size 'big'"),
    "unknown column": (["content,style,colour", f"{PHOTOS[0]},{PAINTINGS[0]},red"],
                       "line 1: unknown column(s) colour"),
}


@pytest.mark.parametrize("case", list(BAD_MANIFESTS))
def test_a_bad_manifest_is_refused_before_any_work_with_its_line(case, tmp_path, broken, capsys, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("a job ran")

    monkeypatch.setattr(backends, "run_job", never)
    rows, expected = BAD_MANIFESTS[case]
    manifest = write_manifest(tmp_path, rows)
    out = tmp_path / "out"
    code = run_cli(["batch", "--manifest", manifest, "-o", out, *OPTIONS])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2
    assert len(lines) == 1 and "Traceback" not in captured.err
    assert lines[0].startswith(f"stylesynth: error: {manifest} " + expected.format(dir=tmp_path, out=out)), lines
    assert not out.exists() and captured.out == ""


def test_a_bad_json_lines_manifest_names_its_line(tmp_path, capsys):
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text(json.dumps({"content": str(PHOTOS[0]), "style": str(PAINTINGS[0])}) + "\n\n"
                        + json.dumps({"content": str(PHOTOS[1])}) + "\n")
    assert run_cli(["batch", "--manifest", manifest, "-o", tmp_path / "out"]) == 2
    assert capsys.readouterr().err.strip() == f"stylesynth: error: {manifest} line 3: no style (every row " \
                                              "needs content and style)"
    assert not (tmp_path / "out").exists()


def test_two_photos_with_one_name_are_refused(tmp_path, capsys):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "photo.jpg").write_bytes(PHOTOS[0].read_bytes())
    assert run_cli(["batch", tmp_path / "a", tmp_path / "b/*.jpg", "--style", PAINTINGS[0],
                    "-o", tmp_path / "out"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"stylesynth: error: two jobs write {tmp_path / 'out' / 'photo--starry_night.png'}")
    assert len(err.splitlines()) == 1 and not (tmp_path / "out").exists()


def test_ray_without_ray_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if not installed
    code = run_cli(["batch", PHOTOS[0], "--style", PAINTINGS[0], "-o", tmp_path / "out", "--ray"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err == "stylesynth: error: --ray needs Ray, an optional extra: pip install " \
                           "'stylesynth[cluster]'\n"
    assert not (tmp_path / "out").exists()


def test_ray_address_is_not_mistaken_for_a_photo(tmp_path, capsys):
    code = run_cli(["batch", "--ray", str(PHOTOS[0]), "--style", PAINTINGS[0], "-o", tmp_path / "out"])
    err = capsys.readouterr().err
    assert code == 2 and "is not a Ray address" in err and "--ray=ADDRESS" in err
    assert len(err.strip().splitlines()) == 1


# --------------------------------------------------------------------------- Ray


def ray_jobs() -> list[int]:
    """Processes of the Ray workers now running a batch job, counted as started (their title
    is `ray::run_batch_job NAME attempt N` from then until the job ends)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode().strip()
            except OSError:
                continue
            if title.startswith("ray::run_batch_job "):
                found.append(int(entry.name))
    return found


def loopback_namespace() -> list[str]:
    """The command prefix that runs a process in a network namespace of its own whose only
    interface is loopback, or [] where this machine does not allow unprivileged namespaces."""
    prefix = ["unshare", "--user", "--map-root-user", "--net"]
    try:
        ok = subprocess.run(prefix + ["true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return prefix if ok else []


def reachable_from_here(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
        return True
    except OSError:
        return False


def test_ray_cluster_survives_a_killed_worker_and_matches_the_local_images(local_batch, tmp_path):
    pytest.importorskip("ray")
    local, _ = local_batch
    out = tmp_path / "ray"
    gcs_file, result_file = Path(f"{out}.gcs"), Path(f"{out}.json")
    namespace = loopback_namespace()
    killed: list[int] = []
    seen_from_here: list[bool] = []
    stop_watching = threading.Event()

    def kill_a_worker() -> None:
        # The first worker seen running a job is killed outright, as by the OOM killer. (The
        # namespace isolates the network only: this process sees and signals Ray's processes.)
        while not stop_watching.is_set():
            running = ray_jobs()
            if running:
                seen_from_here.append(reachable_from_here(gcs_file.read_text()))
                os.kill(running[0], signal.SIGKILL)
                killed.append(running[0])
                return
            time.sleep(0.05)

    # The driver and its workers run this checkout (PYTHONPATH), in their own process group.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")]))}
    driver = subprocess.Popen(namespace + [sys.executable, str(Path(__file__).parent / "ray_on_loopback.py"),
                                           str(out)], env=env, start_new_session=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watcher = threading.Thread(target=kill_a_worker, daemon=True)
    try:
        watcher.start()
        output = driver.communicate(timeout=600)[0]
        assert driver.returncode == 0, output[-3000:]
    finally:
        stop_watching.set()
        watcher.join(timeout=10)
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
    result = json.loads(result_file.read_text())
    lines = result["lines"]
    assert result["cpus"] == 2
    if namespace:
        # The cluster was bound to loopback: its namespace has no other interface, and its
        # address could not be reached from outside the namespace, even on 127.0.0.1.
        assert result["interfaces"] == ["lo"]
        assert gcs_file.read_text().startswith("127.0.0.1:")
        assert seen_from_here == [False]
    else:
        warnings.warn("no unprivileged network namespaces here: the Ray cluster ran on this "
                      "machine's network, its services listening on every interface")
    assert killed, "no worker was ever seen running a job"
    assert gone(killed[0])
    assert [line["status"] for line in lines] == ["done"] * 6
    retried = [line for line in lines if line["attempt"] > 1]
    assert len(retried) == 1 and retried[0]["attempt"] == 2  # Ray ran the killed job again
    assert sorted(p.name for p in out.iterdir()) == sorted(NAMES + ["batch.jsonl"])
    logged = {line["output"]: line for line in log_lines(out)}
    for name in NAMES:
        assert logged[str(out / name)]["record"] == stylesynth.read_params(out / name)
        assert stylesynth.read_params(out / name)["batch_job"]["options"] == SMALL
    assert_same_images(local, out, NAMES)
    # Another pid than ours: the jobs ran in Ray's workers, a worker ran several (its network kept).
    pids = [line["pid"] for line in lines]
    assert os.getpid() not in pids and len(set(pids)) < len(pids)
