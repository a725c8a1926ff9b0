"""How many CPUs this process may use: the affinity mask and the cgroup CPU quota.

A container limited to 1 CPU on a 64-core node sees 64 CPUs in its affinity mask; only
the cgroup's quota says 1. Go's runtime (GOMAXPROCS, automaxprocs) reads the same files:
cgroup v2 `cpu.max` ("max 100000" or "150000 100000": quota and period in µs), cgroup v1
`cpu.cfs_quota_us` / `cpu.cfs_period_us` (-1: no quota). Every ancestor cgroup up to the
mount's root may hold a tighter quota; the smallest wins. Files are read under `root` so
tests can hand over a fake /proc and /sys.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CpuLimit:
    affinity: int               # CPUs in the affinity mask
    quota: float | None         # CPUs the cgroup quota allows (None: no quota)
    source: str = ""            # the file that set the quota, for the log

    @property
    def cpus(self) -> int:
        """Whole CPUs usable: the smaller of the two, the quota rounded up, at least 1."""
        if self.quota is None:
            return max(1, self.affinity)
        return max(1, min(self.affinity, math.ceil(self.quota - 1e-9)))

    def describe(self) -> str:
        mask = f"{self.affinity} CPUs in the affinity mask"
        if self.quota is None:
            return f"{mask}, no cgroup CPU quota"
        return f"{mask}, cgroup CPU quota {self.quota:g} CPUs ({self.source})"


def affinity_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cpu_limit(root: Path = Path("/"), affinity: int | None = None) -> CpuLimit:
    """This process's CPU limit; a file that cannot be read or parsed counts as no quota."""
    mask = affinity_cpus() if affinity is None else affinity
    try:
        groups = (root / "proc/self/cgroup").read_text().splitlines()
    except OSError:
        return CpuLimit(mask, None)
    found: list[tuple[float, str]] = []
    for line in groups:
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":
            found += _quotas(root, _mount(root, "cgroup2", None), path, _v2_quota,
                             "cpu.max")
        elif "cpu" in controllers.split(","):
            found += _quotas(root, _mount(root, "cgroup", "cpu"), path, _v1_quota,
                             "cpu.cfs_quota_us")
    if not found:
        return CpuLimit(mask, None)
    quota, source = min(found)
    return CpuLimit(mask, quota, source)


def _mount(root: Path, fstype: str, controller: str | None) -> tuple[Path, str] | None:
    """(mount point, the cgroup path mounted there) of the hierarchy, from mountinfo."""
    try:
        lines = (root / "proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields, sep, after = line.partition(" - ")
        parts, tail = fields.split(), after.split()
        if not sep or len(parts) < 5 or len(tail) < 3 or tail[0] != fstype:
            continue
        if controller is not None and controller not in tail[2].split(","):
            continue
        return Path(parts[4]), parts[3]
    return None


def _quotas(root: Path, mount: tuple[Path, str] | None, path: str,
            read: Callable[[Path], float | None], shown: str) -> list[tuple[float, str]]:
    """The quota of the process's cgroup and of each ancestor within the mount."""
    if mount is None:
        return []
    point, mounted = mount
    # In a cgroup namespace the process's path is relative to the mounted root already.
    relative = path[len(mounted):] if path.startswith(mounted) and mounted != "/" else path
    directory = root / str(point).lstrip("/") / relative.strip("/")
    top = root / str(point).lstrip("/")
    out: list[tuple[float, str]] = []
    while True:
        quota = read(directory)
        if quota is not None:
            out.append((quota, "/" + str((directory / shown).relative_to(root))))
        if directory == top or top not in directory.parents:
            break
        directory = directory.parent
    return out


def _v2_quota(directory: Path) -> float | None:
    try:
        fields = (directory / "cpu.max").read_text().split()
    except OSError:
        return None
    if len(fields) != 2 or fields[0] == "max":
        return None
    return _ratio(fields[0], fields[1])


def _v1_quota(directory: Path) -> float | None:
    try:
        quota = (directory / "cpu.cfs_quota_us").read_text().strip()
        period = (directory / "cpu.cfs_period_us").read_text().strip()
    except OSError:
        return None
    return _ratio(quota, period)


def _ratio(quota: str, period: str) -> float | None:
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    if q <= 0 or p <= 0:   # -1: no quota (v1)
        return None
    return q / p
