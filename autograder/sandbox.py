"""A sandbox per submission: bubblewrap, resource limits and a user id of its own.

Every grading kernel runs

* inside bubblewrap (``bwrap``) with no network, no view of the host's processes, a read-only view
  of the system (``/usr``, ``/etc``) and of the Python environment, and from the repository only
  ``course/``, ``datasets/`` and ``autograder/`` (read-only: the kernel imports them). ``solutions/``,
  the tests, the gradebook, the user's home and other submissions are not there. Everything a
  kernel can write (its working directory, home and ``/tmp``) lives in a ``/tmp`` that is a tmpfs
  of ``disk`` bytes (2 GiB by default, ``--disk``): past it a write fails with "no space left", the
  grader stops the notebook with status ``disk_full``, and the machine's own disk is never touched.
  The grader reaches the kernel through sockets in the kernel's folder of this process's *sandbox
  root*, which the kernel can no longer write to once it has started;
* under rlimits on address space (4 GiB by default), processes, open files, file size and core
  dumps;
* when the grader runs as root, as a user id of its own (no other kernel can read its folder, the
  process limit counts only its processes, and when the notebook is done every process of that
  user is killed, however it detached itself).

With the zygote (:mod:`autograder.zygote`), the zygote itself runs inside bubblewrap and each
kernel forked from it applies the limits and drops to its user id (:func:`enter`) before it runs
anything. Without it, the kernel command is wrapped: ``bwrap … -- python -m autograder.sandbox
SPEC -- python -m ipykernel_launcher …``.

Where bubblewrap is missing or does not work, grading runs with the rlimits only and says so once;
``SandboxConfig(required=True)`` (``--require-sandbox``) makes that an error. ``AUTOGRADER_SANDBOX=0``
turns bubblewrap off (for debugging), ``AUTOGRADER_SANDBOX=required`` requires it.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from autograder.errors import SandboxUnavailable

GiB = 1 << 30

__all__ = ["SandboxConfig", "SandboxUnavailable", "decide", "new_box"]


@dataclass(frozen=True)
class SandboxConfig:
    """How a grading kernel is confined."""

    enabled: bool = True  # use bubblewrap where it works
    required: bool = False  # refuse to grade without it
    memory: int = 4 * GiB  # RLIMIT_AS, bytes of address space
    processes: int = 256  # RLIMIT_NPROC (processes and threads of the kernel's user id)
    open_files: int = 1024  # RLIMIT_NOFILE
    file_size: int = 1 * GiB  # RLIMIT_FSIZE, bytes one file may grow to
    disk: int = 2 * GiB  # bytes a kernel may write in all (its tmpfs; watched without bubblewrap)
    bwrap: bool | None = None  # decided (see resolved()): kernels run in bubblewrap

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SandboxConfig:
        """``AUTOGRADER_SANDBOX`` (1, 0 or required), ``AUTOGRADER_MEMORY``, ``AUTOGRADER_DISK``."""
        env = os.environ if environ is None else environ
        mode = env.get("AUTOGRADER_SANDBOX", "1").strip().lower()
        return cls(
            enabled=mode not in ("0", "off", "false", "no"),
            required=mode == "required",
            memory=parse_size(env["AUTOGRADER_MEMORY"])
            if env.get("AUTOGRADER_MEMORY")
            else 4 * GiB,
            disk=parse_size(env["AUTOGRADER_DISK"]) if env.get("AUTOGRADER_DISK") else 2 * GiB,
        )

    def resolved(self) -> SandboxConfig:
        """This configuration with bubblewrap decided (see :func:`decide`), once, where grading
        starts: workers and kernels then take the decision as it is."""
        return self if self.bwrap is not None else replace(self, bwrap=decide(self))


def parse_size(text: str | int) -> int:
    """``"4G"``, ``"512M"``, ``"4GiB"``, ``"1.5g"`` or a number of bytes."""
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(?:i?b)?\s*", str(text).lower())
    if not match:
        raise ValueError(f"not a size: {text!r} (use e.g. 4G or 512M)")
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[match.group(2)]
    return int(float(match.group(1)) * scale)


def describe(size: int) -> str:
    return f"{size / GiB:g} GiB" if size >= GiB else f"{size / (1 << 20):g} MiB"


# --- is bubblewrap usable? --------------------------------------------------------------------

_AVAILABLE: dict[str, tuple[bool, str]] = {}


def bwrap_path() -> str | None:
    import shutil

    return shutil.which("bwrap") or next(
        (p for p in ("/usr/bin/bwrap", "/bin/bwrap") if os.access(p, os.X_OK)), None
    )


def bwrap_available() -> bool:
    return _check()[0]


def _check() -> tuple[bool, str]:
    """Run ``true`` in the sandbox we would use (cached per process)."""
    if "result" in _AVAILABLE:
        return _AVAILABLE["result"]
    import subprocess

    exe = bwrap_path()
    if exe is None or not sys.platform.startswith("linux"):
        result = (False, "bubblewrap (bwrap) is not installed")
    else:
        try:
            done = subprocess.run(
                [exe, *view_args(None), "--", "/bin/sh", "-c", "exit 0"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            result = (
                done.returncode == 0,
                (done.stderr.strip() or f"exit status {done.returncode}"),
            )
        except (OSError, subprocess.SubprocessError) as error:
            result = (False, str(error))
        if not result[0]:
            result = (False, f"bubblewrap does not work here: {result[1]}")
    _AVAILABLE["result"] = result
    return result


def decide(config: SandboxConfig) -> bool:
    """True when kernels run in bubblewrap; raise :class:`SandboxUnavailable` when it is required
    and cannot be used; warn once (per batch) when grading goes on without it."""
    if config.enabled or config.required:
        ok, why = _check()
        if ok:
            return True
    else:
        why = "turned off (AUTOGRADER_SANDBOX=0)"
    if config.required:
        raise SandboxUnavailable(
            f"the grading sandbox is required (--require-sandbox) but {why}; install bubblewrap "
            f"(Debian/Ubuntu: apt-get install bubblewrap) or allow user namespaces"
        )
    _warn_unsandboxed(why)
    return False


@functools.cache
def _warn_unsandboxed(why: str) -> None:
    """Once per process (workers get the decision made, and never warn again)."""
    import logging

    message = (
        f"warning: grading WITHOUT the sandbox: {why}. Submissions can read your files and use "
        f"the network; only resource limits apply. Use --require-sandbox to make this an error."
    )
    print(message, file=sys.stderr, flush=True)  # whatever the logging setup
    logging.getLogger("autograder.sandbox").info(message)


# --- the view ---------------------------------------------------------------------------------


def repo() -> Path:
    return Path(__file__).resolve().parent.parent


def python_roots() -> list[Path]:
    """Folders the Python environment needs: its prefixes, and the ``sys.path`` entries that are
    installed packages (site-packages, zip files, folders inside a prefix). The folder of the
    script that runs the grader is not one of them: a script in /tmp or in a home folder would
    otherwise show that whole folder to every kernel."""
    prefixes = [
        Path(os.path.realpath(p))
        for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)
    ]
    roots = [*prefixes, Path(os.path.dirname(os.path.realpath(sys.executable)))]
    for item in sys.path:
        if not item or not os.path.isabs(item) or not os.path.exists(item):
            continue
        path = Path(os.path.realpath(item))
        if path.is_file():
            path = path.parent
        installed = path.name in ("site-packages", "dist-packages") or any(
            p in (path, *path.parents) for p in prefixes
        )
        if installed:
            roots.append(path)
    repo_root = repo()
    return _outermost(
        [
            r
            for r in roots
            if r != repo_root
            and not (repo_root in r.parents and not any(p in (r, *r.parents) for p in prefixes))
        ]
    )


def _outermost(items: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in sorted(set(items), key=lambda x: len(x.parts)):
        if not any(q == p or q in p.parents for q in out):
            out.append(p)
    return out


SHM_MAX = 256 << 20  # /dev/shm: enough for PyTorch's shared tensors, counted in the disk budget


def _size_supported() -> bool:
    """bubblewrap 0.6 and later size a tmpfs (``--size``)."""
    if "size" not in _AVAILABLE:
        import subprocess

        exe = bwrap_path()
        try:
            probe = [
                exe,
                *view_args(None, sized=False),
                "--size",
                "1048576",
                "--tmpfs",
                "/tmp",
                "--",
                "/bin/sh",
                "-c",
                "exit 0",
            ]
            done = (
                subprocess.run([str(p) for p in probe], capture_output=True, timeout=30)
                if exe
                else None
            )
            _AVAILABLE["size"] = (done is not None and done.returncode == 0, "")
        except (OSError, subprocess.SubprocessError):
            _AVAILABLE["size"] = (False, "")
    return _AVAILABLE["size"][0]


def view_args(
    root: Path | None,
    *,
    privileged: bool | None = None,
    disk: int | None = None,
    sized: bool = True,
) -> list[str]:
    """bubblewrap's arguments: what a kernel sees. ``root`` (the sandbox root) is the only
    folder shared with the grader; ``disk``: the size of the tmpfs everything a kernel writes
    goes to."""
    privileged = os.geteuid() == 0 if privileged is None else privileged
    args = ["--die-with-parent"]
    if privileged:
        # No user namespace: the zygote keeps only what it needs to give each kernel its own uid.
        args += [
            "--unshare-ipc",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--cap-add",
            "CAP_SETUID",
            "--cap-add",
            "CAP_SETGID",
        ]
    else:
        args += ["--unshare-all"]
    for name in ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    size_tmp = size_shm = []
    if disk and sized and _size_supported():
        size_tmp, size_shm = ["--size", str(int(disk))], ["--size", str(int(min(disk, SHM_MAX)))]
    args += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        *size_shm,
        "--perms",
        "01777",
        "--tmpfs",
        "/dev/shm",
        *size_tmp,
        "--perms",
        "01777",
        "--tmpfs",
        "/tmp",
    ]
    made = {Path("/"), Path("/tmp"), Path("/dev"), Path("/proc")}
    ro = [*python_roots(), *(repo() / n for n in ("course", "datasets", "autograder"))]
    binds = [
        ("--ro-bind", p)
        for p in _outermost([p for p in ro if p.exists()])
        if not str(p).startswith(("/usr/", "/etc/")) and str(p) not in ("/usr", "/etc")
    ]
    if root is not None:
        binds.append(("--bind", Path(root)))
    for how, path in binds:
        # Folders bubblewrap makes on the way are 0700: the kernel's user must get through them.
        for parent in reversed(path.parents):
            if parent not in made:
                made.add(parent)
                args += ["--perms", "0755", "--dir", str(parent)]
        args += [how, str(path), str(path)]
    return [*args, "--chdir", "/"]  # the kernel changes to its folder once it is its user


def command(root: Path | None, disk: int | None = None) -> list[str]:
    exe = bwrap_path()
    assert exe is not None
    return [exe, *view_args(root, disk=disk)]


# --- a sandbox root per process, a folder and a user id per kernel ----------------------------

_ROOT: dict[int, Path] = {}
_COUNTER = [0]


def sandbox_root() -> Path:
    """This process's sandbox root (removed when it exits)."""
    pid = os.getpid()
    if pid not in _ROOT:
        import atexit
        import shutil
        import tempfile

        root = Path(tempfile.mkdtemp(prefix="autograder-sandbox-"))
        root.chmod(0o711)  # kernels may pass through, not list it
        _ROOT[pid] = root

        def remove() -> None:
            if os.getpid() == pid:
                shutil.rmtree(root, ignore_errors=True)

        atexit.register(remove)
        from multiprocessing import util

        util.Finalize(
            None, remove, exitpriority=10
        )  # worker processes skip atexit; after the pool (100)
    return _ROOT[pid]


def share_root(root: Path) -> None:
    """Make ``root`` this process's sandbox root: the folder a zygote started for it by another
    process (see :func:`autograder.zygote.start_ahead`) shows its kernels. That process removes
    it."""
    _ROOT[os.getpid()] = root


def _uid_range() -> tuple[int, int]:
    """The largest block of user ids this host maps (containers map fewer than 2**32)."""
    try:
        ranges = [tuple(int(x) for x in line.split()) for line in open("/proc/self/uid_map")]
    except OSError:
        ranges = [(0, 0, 1 << 32)]
    start, _, size = max(ranges, key=lambda r: r[2])
    low = max(
        start, 100_000 if size > 1 << 20 else start + 10_000 if size > 20_000 else start + size // 2
    )
    return low, start + size - low - 1


def allocate_uid() -> int:
    """A user id no one else uses: unique per (grading process, kernel)."""
    low, size = _uid_range()
    base = (1 << 28) if low <= (1 << 28) and low + size > (1 << 29) + (1 << 24) else low
    span = size - (base - low)
    _COUNTER[0] += 1
    return base + (os.getpid() * 64 + _COUNTER[0] % 64) % span


INNER_ROOT = "/tmp/.autograder"  # in a sandbox's /tmp: the kernels' folders (01733: not listable)


@dataclass
class Box:
    """One kernel's sandbox: its folder in the sandbox root (``dir``: ``sock/`` for the grader's
    sockets, ``work/`` for the module's files the grader stages), user id and limits.

    In bubblewrap the kernel works in ``inner`` (``/tmp/.autograder/<name>``: ``work/``, its
    working directory, and ``home/``), on the sandbox's capped tmpfs; it copies the staged files
    there before any student code runs. Without bubblewrap it works in ``dir`` itself."""

    config: SandboxConfig
    bwrap: bool
    dir: Path
    uid: int | None = None  # own user id (grader running as root, in bubblewrap)

    @property
    def workdir(self) -> Path:
        """Where the grader puts the module's files (the kernel's working directory without
        bubblewrap)."""
        return self.dir / "work"

    @property
    def sockets(self) -> Path:
        return self.dir / "sock"

    @property
    def inner(self) -> str | None:
        return f"{INNER_ROOT}/{self.dir.name}" if self.bwrap else None

    @property
    def home(self) -> str:
        return f"{self.inner}/home" if self.inner else str(self.dir / "home")

    @property
    def cwd(self) -> str:
        """The kernel's working directory as the kernel sees it."""
        return f"{self.inner}/work" if self.inner else str(self.workdir)

    def spec(self) -> dict:
        """What the kernel applies to itself before it runs anything (see :func:`enter`)."""
        limits = {
            "memory": self.config.memory,
            "processes": self.config.processes,
            "open_files": self.config.open_files,
            "file_size": min(self.config.file_size, self.config.disk),
        }
        if self.uid is None:  # sharing our user id: leave room for the processes it already has
            limits["processes"] = (
                0 if os.geteuid() == 0 else self.config.processes + _processes_of(os.geteuid())
            )
        return {"uid": self.uid, "limits": limits, "cwd": self.cwd, "inner": self.inner}

    def kernel_env(self, env: dict[str, str]) -> dict[str, str]:
        """Inside bubblewrap: only the variables a kernel needs (no tokens of the grader's), and a
        home, temporary and cache folder of its own."""
        if not self.bwrap:
            return env
        keep = confined_env(env)
        home = self.home
        keep.update(
            HOME=home,
            TMPDIR=f"{home}/tmp",
            IPYTHONDIR=f"{home}/.ipython",
            MPLCONFIGDIR=f"{home}/.matplotlib",
            XDG_CACHE_HOME=f"{home}/.cache",
            XDG_CONFIG_HOME=f"{home}/.config",
            XDG_DATA_HOME=f"{home}/.local/share",
            JUPYTER_RUNTIME_DIR=f"{home}/.jupyter-runtime",
            USER="student",
            LOGNAME="student",
            AUTOGRADER_STAGE=str(self.workdir),
        )
        return keep

    def adopt(self, path: Path | None = None) -> None:
        """Let the kernel read what the grader staged in its folder (and not write there): owned
        by the grader, readable by the kernel's group only."""
        if self.uid is None:
            return
        top = path or self.workdir
        for folder, _dirs, files in os.walk(top):
            os.chown(folder, 0, self.uid)
            os.chmod(folder, 0o750)
            for name in files:
                item = os.path.join(folder, name)
                os.chown(item, 0, self.uid, follow_symlinks=False)
                if not os.path.islink(item):
                    os.chmod(item, 0o640)

    def lock(self) -> None:
        """Once the kernel has made its sockets: it may no longer add files to its folder."""
        if self.uid is not None:
            os.chown(self.sockets, 0, self.uid)
            os.chmod(self.sockets, 0o750)

    def cleanup(self, tmp_roots: Sequence[str] = ()) -> None:
        """Kill every process of the kernel's user, remove its files from the sandbox's ``/tmp``
        and ``/dev/shm`` (``tmp_roots``: those folders as the grader sees them) and its folder."""
        import shutil

        if self.uid is not None:
            kill_user(self.uid)
        for tmp in tmp_roots:
            if self.inner and tmp.endswith("/tmp"):
                shutil.rmtree(tmp + self.inner.removeprefix("/tmp"), ignore_errors=True)
            if self.uid is None:
                continue
            try:
                for entry in os.scandir(tmp):
                    if entry.stat(follow_symlinks=False).st_uid == self.uid:
                        if entry.is_dir(follow_symlinks=False):
                            shutil.rmtree(entry.path, ignore_errors=True)
                        else:
                            os.unlink(entry.path)
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def written(self, tmp_roots: Sequence[str] = ()) -> int:
        """Bytes the kernel has written: its sandbox's tmpfs (``tmp_roots`` as the grader sees
        them) and its own folders on this machine's disk."""
        total = 0
        for tmp in tmp_roots:
            try:
                st = os.statvfs(tmp)
                total += (st.f_blocks - st.f_bfree) * st.f_frsize
            except OSError:
                pass
        return total + folder_bytes(self.dir)


def folder_bytes(path: Path, limit: int = 100_000) -> int:
    """Disk space used under ``path`` (blocks, so sparse files count as little as they use)."""
    total, seen = 0, 0
    stack = [str(path)]
    while stack and seen < limit:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    seen += 1
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += st.st_blocks * 512
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
        except OSError:
            pass
    return total


def enter_folders(spec: dict) -> None:
    """In the kernel, once it is its own user: make its folders on the sandbox's tmpfs and go to
    its working directory."""
    inner = spec.get("inner")
    if inner:
        for sub in ("", "/work", "/home", "/home/tmp"):
            os.makedirs(inner + sub, mode=0o700, exist_ok=True)
    os.chdir(spec["cwd"])


def prepare_tmp() -> None:
    """In the sandbox, before any kernel: the folder of the kernels' folders, where every kernel
    may make its own but none may list or remove the others' (01733)."""
    os.makedirs(INNER_ROOT, mode=0o1733, exist_ok=True)
    os.chmod(INNER_ROOT, 0o1733)


_ENV_KEEP = {
    "PATH",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TERM",
    "MPLBACKEND",
    "PYTHONHASHSEED",
    "PYTHONPATH",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONWARNINGS",
    "PYTHONUNBUFFERED",
    "PYTHONIOENCODING",
    "PYDEVD_DISABLE_FILE_VALIDATION",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "CI",
    "VIRTUAL_ENV",
    "JUPYTER_PLATFORM_DIRS",
}
_ENV_PREFIXES = ("LC_", "COURSE_", "AUTOGRADER_JUDGE", "TORCH_", "CUBLAS_")


def confined_env(env: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``env`` that a process inside bubblewrap may see (no tokens of the
    grader's, no paths of its home)."""
    return {k: v for k, v in env.items() if k in _ENV_KEEP or k.startswith(_ENV_PREFIXES)}


def new_box(config: SandboxConfig | None = None) -> Box:
    """Make one kernel's folder; decide bubblewrap (see :func:`decide`) and its user id."""
    config = (config or SandboxConfig.from_env()).resolved()
    bwrap = bool(config.bwrap)
    root = sandbox_root()
    uid = allocate_uid() if bwrap and os.geteuid() == 0 else None
    import tempfile

    box = Box(config, bwrap, Path(tempfile.mkdtemp(prefix="k", dir=root)), uid)
    for sub in ("work", "sock") if bwrap else ("work", "home", "sock", "home/tmp"):
        (box.dir / sub).mkdir(mode=0o700)
    if uid is not None:
        # The grader's, traversable by the kernel's group; the kernel makes its sockets, then
        # the grader locks that folder too (Box.lock).
        os.chown(box.dir, 0, uid)
        os.chmod(box.dir, 0o750)
        os.chown(box.sockets, uid, uid)
        box.adopt(box.workdir)
    return box


def _matplotlib_cache() -> Path | None:
    if os.environ.get("MPLCONFIGDIR"):
        return Path(os.environ["MPLCONFIGDIR"])
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "matplotlib"


def seed_matplotlib(target: Path, uid: int | None = None) -> None:
    """Copy the grader's matplotlib font list into ``target`` (else every kernel rebuilds it)."""
    import shutil

    source = _matplotlib_cache()
    try:
        target.mkdir(parents=True, exist_ok=True)
        for item in source.glob("fontlist-*.json") if source and source.is_dir() else []:
            shutil.copyfile(item, target / item.name)
        if uid is not None:
            for item in (target, *target.iterdir()):
                os.chown(item, uid, uid)
    except OSError:
        pass


def _pids_of(uid: int) -> list[int]:
    """Live (not zombie) processes of ``uid``."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    with open(f"/proc/{name}/stat", "rb") as handle:
                        if handle.read().rsplit(b")", 1)[1].split()[0] != b"Z":
                            found.append(int(name))
            except (OSError, IndexError):
                pass
    return found


def _processes_of(uid: int) -> int:
    return len(_pids_of(uid))


def kill_user(uid: int, rounds: int = 50) -> None:
    """SIGKILL every process of ``uid`` (we are root), whatever session or namespace it moved to.
    A killed process cannot fork again, so a few rounds of scan-and-kill reach a fork bomb too;
    past three rounds a child takes the uid and kills -1 (every process of that user at once)."""
    import signal
    import time

    for round_ in range(rounds):
        pids = _pids_of(uid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if round_ >= 3:
            child = os.fork()
            if child == 0:
                try:
                    os.setgroups([])
                    os.setresgid(uid, uid, uid)
                    os.setresuid(uid, uid, uid)
                    os.kill(-1, signal.SIGKILL)
                except BaseException:
                    os._exit(1)
                os._exit(0)
            os.waitpid(child, 0)
        time.sleep(0.005 * (round_ + 1))


# --- inside: the kernel confines itself ------------------------------------------------------


def enter(spec: dict) -> None:
    """Apply the limits, then become the kernel's user; called in the forked kernel (or the
    wrapper) before any student code. Raises when it cannot: a kernel never runs unconfined."""
    import resource

    limits = spec.get("limits") or {}

    def cap(which: int, value: int) -> None:
        if value and value > 0:
            resource.setrlimit(which, (value, value))

    cap(resource.RLIMIT_AS, limits.get("memory", 0))
    cap(resource.RLIMIT_NOFILE, limits.get("open_files", 0))
    cap(resource.RLIMIT_FSIZE, limits.get("file_size", 0))
    cap(resource.RLIMIT_NPROC, limits.get("processes", 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    uid = spec.get("uid")
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        if os.getuid() != uid or os.geteuid() != uid:
            raise RuntimeError("could not drop to the kernel's user id")
    _no_new_privs()


def _no_new_privs() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
    except Exception:
        pass


def wrap(cmd: list[str], box: Box) -> list[str]:
    """The kernel command, confined: in bubblewrap when ``box.bwrap``; the limits and the user id
    applied by this module's ``__main__`` before it execs the kernel."""
    inner = [sys.executable, "-m", "autograder.sandbox", json.dumps(box.spec()), "--", *cmd]
    return [*command(box.dir, box.config.disk), *inner] if box.bwrap else inner


def main(argv: list[str]) -> None:
    spec, rest = json.loads(argv[0]), argv[argv.index("--") + 1 :]
    if spec.get("inner"):
        prepare_tmp()
    enter(spec)
    enter_folders(spec)
    # The grader's PID means nothing in our PID namespace; 1 tells ipykernel not to poll for its
    # parent (bubblewrap's --die-with-parent ends us with the grader).
    os.environ["JPY_PARENT_PID"] = "1"
    os.execvp(rest[0], rest)


def as_dict(config: SandboxConfig) -> dict:
    return asdict(config)


if __name__ == "__main__":
    main(sys.argv[1:])
