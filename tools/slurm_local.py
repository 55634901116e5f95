#!/usr/bin/env python3
"""Start (or stop) a real single-node SLURM cluster on loopback, for the tests and for trying the slurm profile.

    python tools/slurm_local.py start [--dir DIR] [--gpus 8] [--nodes 1]   # prints `export SLURM_CONF=...`
    python tools/slurm_local.py stop  [--dir DIR]

Installs Debian's slurm-wlm and munge when missing (needs root and the Debian mirror), writes slurm.conf with one
node (this host, all CPUs, `Gres=gpu:a100:N` backed by plain files so GPU requests schedule on a machine without
GPUs), starts munged, slurmctld and slurmd, and waits until the node is idle. Facts behind each setting:
../shared/reference/snakemake-and-slurm.md.

With `--nodes N` (N > 1) the cluster has N nodes HOST-1..HOST-N on this machine, one slurmd each (`slurmd -N NAME`,
each on its own port, all at 127.0.0.1): Debian's SLURM 22.05 runs them side by side, so multi-node job steps
(`srun -N2`) run for real on loopback.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_DIR = Path("/tmp/e3d-slurm")
PARTITIONS = ("cpu", "gpu")  # the names profiles/slurm uses, so the profile runs here unchanged
NODE_CPUS = 64
NODE_MEM_MB = 1_000_000
SLURMD_PORT = 6818  # node i of a multi-node cluster listens on SLURMD_PORT + i


class SlurmUnavailable(RuntimeError):
    """SLURM cannot be started here; the message says why (tests report it as a skip reason)."""


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def ensure_installed() -> None:
    if shutil.which("slurmctld") and shutil.which("munged"):
        return
    if os.geteuid() != 0:
        raise SlurmUnavailable("slurm-wlm/munge are not installed and we are not root to apt-get install them")
    if not shutil.which("apt-get"):
        raise SlurmUnavailable("slurm-wlm/munge are not installed and there is no apt-get to install them")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "update", "-qq"], env=env)
    res = _run(["apt-get", "install", "-y", "-qq", "slurm-wlm", "munge"], env=env)
    if res.returncode != 0 or not shutil.which("slurmctld"):
        raise SlurmUnavailable(f"apt-get install slurm-wlm munge failed: {res.stderr.strip()[-400:]}")


def _ensure_munge() -> None:
    if _run(["munge", "-n"]).returncode == 0:
        return
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        res = _run(["mungekey", "-c", "-f", "-k", str(key)])
        if res.returncode != 0:
            raise SlurmUnavailable(f"mungekey failed: {res.stderr.strip()}")
    for d in ("/run/munge", "/var/log/munge", "/var/lib/munge", "/etc/munge"):
        Path(d).mkdir(parents=True, exist_ok=True)
        shutil.chown(d, "munge", "munge")
    shutil.chown(key, "munge", "munge")
    key.chmod(0o400)
    res = _run(["runuser", "-u", "munge", "--", "/usr/sbin/munged"])
    if res.returncode != 0:
        raise SlurmUnavailable(f"munged did not start: {res.stderr.strip()}")
    for _ in range(50):
        if _run(["munge", "-n"]).returncode == 0:
            return
        time.sleep(0.1)
    raise SlurmUnavailable("munged started but `munge -n` keeps failing")


def node_names(nodes: int) -> list[str]:
    host = socket.gethostname().split(".")[0]
    return [host] if nodes == 1 else [f"{host}-{i}" for i in range(1, nodes + 1)]


def write_config(base: Path, gpus: int, nodes: int = 1) -> Path:
    if nodes < 1:
        raise SlurmUnavailable(f"a cluster needs at least one node, got {nodes}")
    host = socket.gethostname().split(".")[0]
    names = node_names(nodes)
    # The node advertises the shape of a real 8-GPU training node (64 CPUs, 1 TB) whatever this machine has, so
    # that the slurm profile's requests schedule unchanged; config_overrides makes slurmd accept that.
    cpus = max(os.cpu_count() or 1, NODE_CPUS)
    mem_mb = NODE_MEM_MB
    for sub in ("state", "spool", "log", "gpus"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    for name in names:
        (base / "gpus" / name).mkdir(exist_ok=True)
        for i in range(gpus):
            (base / "gpus" / name / f"nvidia{i}").touch()
    gres = f" Gres=gpu:a100:{gpus}" if gpus else ""
    if nodes == 1:
        node_lines = f"NodeName={host} CPUs={cpus} RealMemory={mem_mb}{gres} State=UNKNOWN"
        per_node = ""
    else:
        # Several slurmd on one host: each node name has its own port; %n gives each daemon its own files.
        node_lines = "\n".join(f"NodeName={name} NodeAddr=127.0.0.1 NodeHostname={host} Port={SLURMD_PORT + i} "
                               f"CPUs={cpus} RealMemory={mem_mb}{gres} State=UNKNOWN" for i, name in enumerate(names))
        per_node = "-%n"
    nodelist = ",".join(names)
    conf = f"""# loopback cluster ({nodes} node(s)) written by tools/slurm_local.py
ClusterName=e3dtest
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={base}/state
SlurmdSpoolDir={base}/spool{per_node}
SlurmctldPidFile={base}/slurmctld.pid
SlurmdPidFile={base}/slurmd{per_node}.pid
SlurmctldLogFile={base}/log/slurmctld.log
SlurmdLogFile={base}/log/slurmd{per_node}.log
SlurmctldPort=6817
SlurmdPort={SLURMD_PORT}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=3600
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
MessageTimeout=30
SlurmdParameters=config_overrides
GresTypes=gpu
{node_lines}
PartitionName={PARTITIONS[0]} Nodes={nodelist} Default=YES MaxTime=INFINITE State=UP
PartitionName={PARTITIONS[1]} Nodes={nodelist} Default=NO MaxTime=INFINITE State=UP
"""
    (base / "slurm.conf").write_text(conf)
    gres_conf = "AutoDetect=off\n"
    if gpus:
        gres_conf += "".join(f"NodeName={name} Name=gpu Type=a100 File={base}/gpus/{name}/nvidia[0-{gpus - 1}]\n"
                             for name in names)
    (base / "gres.conf").write_text(gres_conf)
    _link_system_config(base)
    return base / "slurm.conf"


def _link_system_config(base: Path) -> None:
    """Job steps (`srun` inside a batch job) do not see SLURM_CONF, so they read /etc/slurm/slurm.conf: point it
    (and gres.conf, read from the same folder) at ours, unless a real configuration lives there."""
    etc = Path("/etc/slurm")
    etc.mkdir(parents=True, exist_ok=True)
    for name in ("slurm.conf", "gres.conf"):
        link = etc / name
        if link.exists() and not link.is_symlink():
            raise SlurmUnavailable(f"{link} is a real SLURM configuration; not replacing it with a test cluster's")
        link.unlink(missing_ok=True)
        link.symlink_to(base / name)


def start(base: Path = DEFAULT_DIR, gpus: int = 8, timeout: float = 60.0, nodes: int = 1) -> dict[str, str]:
    """Start the cluster; return the environment variables clients need (SLURM_CONF)."""
    ensure_installed()
    stop(base)
    _stop_stale_daemons()
    _ensure_munge()
    conf = write_config(base, gpus, nodes)
    env = {**os.environ, "SLURM_CONF": str(conf)}
    daemons = [("slurmctld", [])] + [("slurmd", ["-N", name] if nodes > 1 else []) for name in node_names(nodes)]
    for daemon, extra in daemons:
        res = _run([f"/usr/sbin/{daemon}", "-f", str(conf), *extra], env=env)
        if res.returncode != 0:
            raise SlurmUnavailable(f"{daemon} {' '.join(extra)} did not start: {res.stderr.strip()} "
                                   f"(logs: {base}/log/)")
    deadline = time.monotonic() + timeout
    states: list[str] = []
    while time.monotonic() < deadline:
        res = _run(["sinfo", "-h", "-N", "-p", PARTITIONS[0], "-o", "%T"], env=env)  # one line per node
        states = res.stdout.split()
        if len(states) == nodes and all(s in ("idle", "mixed", "allocated") for s in states):
            return {"SLURM_CONF": str(conf)}
        time.sleep(0.5)
    log = (base / "log" / "slurmctld.log")
    tail = log.read_text()[-600:] if log.exists() else ""
    raise SlurmUnavailable(f"nodes never became idle (sinfo says {states!r}); slurmctld log tail: {tail}")


def _stop_stale_daemons() -> None:
    """Daemons an earlier run of this tool left behind (another state dir) would keep the ports and answer for us."""
    pattern = r"slurm(ctld|d) -f \S*e3d-slurm"
    subprocess.run(["pkill", "-f", pattern], capture_output=True)
    for _ in range(50):
        if subprocess.run(["pgrep", "-f", pattern], capture_output=True).returncode != 0:
            return
        time.sleep(0.1)
    subprocess.run(["pkill", "-9", "-f", pattern], capture_output=True)


def stop(base: Path = DEFAULT_DIR) -> None:
    for pidfile in [*sorted(base.glob("slurmd*.pid")), base / "slurmctld.pid"]:  # every slurmd, then the controller
        if pidfile.exists():
            try:
                pid = int(pidfile.read_text().strip())
                os.kill(pid, 15)
                for _ in range(50):
                    os.kill(pid, 0)
                    time.sleep(0.1)
            except (ValueError, ProcessLookupError, PermissionError):
                pass
            pidfile.unlink(missing_ok=True)
    # A previous state dir would resurrect old jobs.
    shutil.rmtree(base / "state", ignore_errors=True)
    _unlink_system_config(base)


def _unlink_system_config(base: Path) -> None:
    """Remove the /etc/slurm links to this cluster's configuration, leaving /etc/slurm as start() found it: left in
    place, they point every SLURM client (Snakemake's SLURM plugin too) at a controller that is gone."""
    for name in ("slurm.conf", "gres.conf"):
        link = Path("/etc/slurm") / name
        if link.is_symlink() and Path(os.readlink(link)).parent == base:
            link.unlink()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=("start", "stop"))
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--gpus", type=int, default=8, help="GPUs each node advertises")
    ap.add_argument("--nodes", type=int, default=1, help="nodes, each its own slurmd on this machine")
    args = ap.parse_args()
    try:
        if args.action == "start":
            env = start(args.dir, args.gpus, nodes=args.nodes)
            print(f"export SLURM_CONF={env['SLURM_CONF']}")
        else:
            stop(args.dir)
    except SlurmUnavailable as exc:
        print(f"slurm_local: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
