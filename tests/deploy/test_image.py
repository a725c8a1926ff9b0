"""The container image, built from the Dockerfile with podman and run: `--version` names the
revision it was built from, the demo serves, the HEALTHCHECK command passes.

Registry images cannot be pulled here, so the base is stood in for by a Debian root
(`./scripts/image-base`, kept in podman's image store between runs), and OCI runtimes
cannot start here, so the image's root is run in a chroot as the image's user, with
/proc and /dev mounted in it. The build's pip installs from a wheelhouse that this
machine's pip fills from its own index and keeps between runs (WHEELS), so that once
both are made the build needs no network: the tests often run in a network namespace of
their own. The base already holds what the Dockerfile asks apt for. What runs stays on
loopback.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.addresses import AddressPool
from tests.support.e2e import REPO, free_port, http_get, parse_samples, wait_until

pytestmark = pytest.mark.tier("stack")

WHEELS = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bambu-exporter-wheels"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _run(command: list[str], timeout: float) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (f"{' '.join(command)} exited {done.returncode}:\n"
                                  f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


@dataclass
class Image:
    tag: str
    root: Path
    revision: str
    user: str

    def command(self, *args: str, env: dict[str, str] | None = None) -> list[str]:
        """The image's entrypoint with `args`, in its root, as its user."""
        entrypoint = json.loads(_run(["podman", "image", "inspect", "--format",
                                      "{{json .Config.Entrypoint}}", self.tag], 60))
        variables = [f"{k}={v}" for k, v in {"PATH": PATH, "HOME": "/", **(env or {})}.items()]
        return ["env", "-i", *variables, "chroot", f"--userspec={self.user}", str(self.root),
                *entrypoint, *args]


def _context(directory: Path) -> Path:
    """What the Dockerfile copies, as a fresh checkout has it."""
    for name in ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, directory / name)
    shutil.copytree(REPO / "exporter", directory / "exporter",
                    ignore=shutil.ignore_patterns("__pycache__", "REVISION"))
    return directory


def _fill_wheels(context: Path) -> None:
    """What `pip install .` needs in WHEELS: from WHEELS alone when it holds everything
    (no network), else from this machine's index."""
    WHEELS.mkdir(parents=True, exist_ok=True)
    wanted = [str(context), "setuptools>=64", "wheel"]
    pip = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
           "--dest", str(WHEELS), "--find-links", str(WHEELS)]
    with open(WHEELS / ".lock", "w") as lock:   # two runs at once fill it one after the other
        fcntl.flock(lock, fcntl.LOCK_EX)
        offline = subprocess.run([*pip, "--no-index", *wanted], capture_output=True, timeout=300)
        if offline.returncode != 0:
            _run([*pip, *wanted], 600)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Image]:
    if shutil.which("podman") is None or shutil.which("mmdebstrap") is None:
        pytest.skip("podman and mmdebstrap are not installed and ./scripts/system-deps could "
                    "not install them (Debian's podman and mmdebstrap packages, as root)")
    _run([str(REPO / "scripts" / "image-base")], 900)
    revision = _run(["git", "-C", str(REPO), "rev-parse", "HEAD"], 30).strip()
    tag = f"localhost/bambu-exporter-test:{uuid.uuid4().hex[:12]}"
    context = _context(tmp_path_factory.mktemp("image-context"))
    _fill_wheels(context)
    pip_conf = tmp_path_factory.mktemp("pip") / "pip.conf"
    pip_conf.write_text("[global]\nno-index = true\nfind-links = /wheels\n")
    # docker format: the OCI format has no HEALTHCHECK
    _run(["podman", "build", "--pull=never", "--isolation=chroot", "--quiet", "--format=docker",
          "-v", f"{WHEELS}:/wheels:ro", "-v", f"{pip_conf}:/etc/pip.conf:ro",
          "--build-arg", f"REVISION={revision}", "-t", tag, str(context)], 600)
    container = _run(["podman", "create", tag], 60).strip()
    mounted: list[Path] = []
    try:
        root = Path(_run(["podman", "mount", container], 60).strip())
        for target, how in (("proc", ["-t", "proc", "proc"]), ("dev", ["--bind", "/dev"])):
            _run(["mount", *how, str(root / target)], 30)
            mounted.append(root / target)
        user = _run(["podman", "image", "inspect", "--format", "{{.Config.User}}", tag], 60).strip()
        yield Image(tag, root, revision, user or "root")
    finally:
        for path in reversed(mounted):
            subprocess.run(["umount", "--lazy", str(path)], capture_output=True, timeout=30)
        subprocess.run(["podman", "umount", container], capture_output=True, timeout=60)
        subprocess.run(["podman", "rm", "--force", container], capture_output=True, timeout=60)
        subprocess.run(["podman", "rmi", "--force", tag], capture_output=True, timeout=120)


def test_the_image_runs_as_nobody_and_names_its_revision(image: Image) -> None:
    assert image.user.split(":")[0] == "nobody"   # the Dockerfile's USER, not root
    done = subprocess.run(image.command("--version"), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"(revision: {image.revision[:12]})" in done.stdout.splitlines()[0], done.stdout


def test_the_demo_serves_and_the_healthcheck_passes(image: Image, addresses: AddressPool,
                                                      tmp_path: Path) -> None:
    port = free_port()
    listen = f"127.0.0.1:{port}"
    healthcheck = json.loads(_run(["podman", "image", "inspect", "--format",
                                   "{{json .Config.Healthcheck.Test}}", image.tag], 60))
    assert healthcheck[0] == "CMD" and healthcheck[1] == "bambu-exporter", healthcheck
    # the check reads the exporter's variables, as `docker run -e` would hand them to both
    env = {"BAMBU_WEB_LISTEN_ADDRESS": listen}
    probe = ["env", "-i", f"PATH={PATH}", "HOME=/", *[f"{k}={v}" for k, v in env.items()],
             "chroot", f"--userspec={image.user}", str(image.root), *healthcheck[1:]]
    # nothing serves yet: the check must say so
    before = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    assert before.returncode != 0, before.stdout
    log = open(tmp_path / "demo.log", "wb")  # noqa: SIM115 - closed below
    demo = subprocess.Popen(image.command("--demo", "--demo.first-address",
                                          addresses.take(12).first, env=env),
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        base = f"http://{listen}"

        def serving() -> bool:
            assert demo.poll() is None, (tmp_path / "demo.log").read_text()
            try:
                samples = parse_samples(http_get(base + "/metrics", timeout=5).text)
            except OSError:
                return False
            up = [v for (name, _), v in samples.items() if name == "bambu_printer_up"]
            return len(up) == 12 and sum(up) >= 10
        wait_until(serving, 120, interval=0.5, what="the image's demo fleet up")
        check = subprocess.run(probe, capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr
    finally:
        demo.terminate()
        try:
            demo.wait(30)
        finally:
            if demo.poll() is None:
                demo.kill()
                demo.wait(10)
            log.close()
    assert demo.returncode == 0, (tmp_path / "demo.log").read_text()
