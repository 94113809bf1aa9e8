"""Run the Ray test's batch in a Ray instance of its own (used by tests/batch/test_batch.py).

The test starts this script in a fresh network namespace whose only interface is loopback
(`unshare --user --map-root-user --net`): Ray's services listen on every interface of their
namespace (its gRPC servers bind 0.0.0.0 whatever the node address), so the namespace is what keeps
the test cluster on 127.0.0.1. Usage: ray_on_loopback.py OUTDIR; it writes OUTDIR.gcs (the
cluster's address, once it is up) and OUTDIR.json (the batch's log lines and the interfaces seen).
`ray_on_loopback.py stylesynth ARGS` runs the command line instead (`stylesynth ARGS`).
"""

import fcntl
import json
import socket
import struct
import sys
from pathlib import Path

import ray

import stylesynth

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]  # test_batch, conftest
from test_batch import PAINTINGS, PHOTOS, SMALL  # noqa: E402

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def bring_loopback_up() -> None:
    """A new network namespace starts with `lo` down (done with ioctl: `ip` may be missing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = struct.unpack("16sh", fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sh", b"lo", 0)))[1]
        if not flags & IFF_UP:
            fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP))


def run_batch(out: Path) -> None:
    ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             logging_level="ERROR", log_to_driver=False)
    try:
        Path(f"{out}.gcs").write_text(ray.get_runtime_context().gcs_address)
        cpus = ray.cluster_resources()["CPU"]
        lines = stylesynth.batch(PHOTOS, PAINTINGS, out, ray=True, threads=1, progress=False, **SMALL)
    finally:
        ray.shutdown()
    Path(f"{out}.json").write_text(json.dumps({
        "lines": lines, "cpus": cpus, "interfaces": [name for _, name in socket.if_nameindex()]}))


bring_loopback_up()
if sys.argv[1] == "stylesynth":
    from stylesynth.cli import main

    main(sys.argv[2:])
else:
    run_batch(Path(sys.argv[1]))
