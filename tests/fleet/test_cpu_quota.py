"""cpu_quota.py: the CPUs a process may use, from fake /proc and cgroup files laid out as
cgroup v2, cgroup v1 and a container's view of each."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.config import DEFAULT_WORKERS_CAP, default_workers
from exporter.fleet.cpu_quota import CpuLimit, cpu_limit

pytestmark = pytest.mark.tier("unit")

V2_MOUNT = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n"
V1_MOUNTS = ("31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
             "32 31 0:29 {root} /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
             "33 31 0:30 {root} /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n")


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_v2_a_pod_limited_to_one_cpu_on_a_big_node(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "proc/self/cgroup": "0::/kubepods/pod1/ctr\n", "proc/self/mountinfo": V2_MOUNT,
        "sys/fs/cgroup/kubepods/pod1/ctr/cpu.max": "100000 100000\n",
        "sys/fs/cgroup/kubepods/pod1/cpu.max": "max 100000\n"})
    limit = cpu_limit(root, affinity=64)
    assert limit == CpuLimit(64, 1.0, "/sys/fs/cgroup/kubepods/pod1/ctr/cpu.max")
    assert limit.cpus == 1
    assert "cgroup CPU quota 1 CPUs" in limit.describe()


def test_v2_a_tighter_ancestor_wins_and_fractions_round_up(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "proc/self/cgroup": "0::/farm/exporter\n", "proc/self/mountinfo": V2_MOUNT,
        "sys/fs/cgroup/farm/exporter/cpu.max": "400000 100000\n",
        "sys/fs/cgroup/farm/cpu.max": "150000 100000\n"})
    limit = cpu_limit(root, affinity=16)
    assert limit.quota == 1.5 and limit.cpus == 2
    assert limit.source == "/sys/fs/cgroup/farm/cpu.max"


def test_v2_in_a_cgroup_namespace_reads_the_mounts_root(tmp_path: Path) -> None:
    # A container with its own cgroup namespace sees itself at "/".
    root = write(tmp_path, {"proc/self/cgroup": "0::/\n", "proc/self/mountinfo": V2_MOUNT,
                            "sys/fs/cgroup/cpu.max": "250000 100000\n"})
    assert cpu_limit(root, affinity=8).cpus == 3


def test_v2_without_a_quota_is_the_affinity(tmp_path: Path) -> None:
    root = write(tmp_path, {"proc/self/cgroup": "0::/user.slice\n",
                            "proc/self/mountinfo": V2_MOUNT,
                            "sys/fs/cgroup/user.slice/cpu.max": "max 100000\n"})
    limit = cpu_limit(root, affinity=6)
    assert limit == CpuLimit(6, None) and limit.cpus == 6
    assert limit.describe() == "6 CPUs in the affinity mask, no cgroup CPU quota"


def test_a_quota_above_the_affinity_mask_gives_the_mask(tmp_path: Path) -> None:
    root = write(tmp_path, {"proc/self/cgroup": "0::/\n", "proc/self/mountinfo": V2_MOUNT,
                            "sys/fs/cgroup/cpu.max": "800000 100000\n"})
    assert cpu_limit(root, affinity=2).cpus == 2


def test_v1_quota_on_the_host_path(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "proc/self/cgroup": "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n",
        "proc/self/mountinfo": V1_MOUNTS.format(root="/"),
        "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "200000\n",
        "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
        "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
        "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n"})
    limit = cpu_limit(root, affinity=32)
    assert limit.quota == 2.0 and limit.cpus == 2


def test_v1_inside_a_container_whose_cgroup_is_mounted_as_root(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "proc/self/cgroup": "3:cpu,cpuacct:/docker/abc\n",
        "proc/self/mountinfo": V1_MOUNTS.format(root="/docker/abc"),
        "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "50000\n",
        "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n"})
    limit = cpu_limit(root, affinity=32)
    assert limit.quota == 0.5 and limit.cpus == 1


def test_v1_without_a_quota(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "proc/self/cgroup": "3:cpu,cpuacct:/\n", "proc/self/mountinfo": V1_MOUNTS.format(root="/"),
        "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
        "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n"})
    assert cpu_limit(root, affinity=4) == CpuLimit(4, None)


@pytest.mark.parametrize("files", [
    {},   # no /proc at all (not Linux)
    {"proc/self/cgroup": "0::/\n"},   # no mountinfo
    {"proc/self/cgroup": "0::/\n", "proc/self/mountinfo": V2_MOUNT,
     "sys/fs/cgroup/cpu.max": "garbage\n"},
    {"proc/self/cgroup": "0::/\n", "proc/self/mountinfo": V2_MOUNT,
     "sys/fs/cgroup/cpu.max": "100000 0\n"},
])
def test_what_cannot_be_read_is_no_quota(tmp_path: Path, files: dict[str, str]) -> None:
    assert cpu_limit(write(tmp_path, files), affinity=3) == CpuLimit(3, None)


def test_the_real_files_of_this_machine_parse() -> None:
    limit = cpu_limit()
    assert limit.cpus >= 1 and limit.affinity >= 1
    assert 1 <= default_workers() <= min(limit.cpus, DEFAULT_WORKERS_CAP)
