"""Landlock + seccomp confinement, for machines that refuse user namespaces.

Run as ``python -I -S confine.py --ro PATH ... --rw PATH ... -- bash run.sh``: in its own
process, before ``exec``, it

- sets ``no_new_privs`` (no setuid program can undo the rest);
- restricts the filesystem with Landlock: read (and execute) only beneath the ``--ro``
  paths, read and write only beneath the ``--rw`` paths; every other file of the machine
  cannot be opened. With Landlock ABI 4 every TCP ``connect``/``bind`` is refused too, with
  ABI 6 signals to and abstract unix sockets of processes outside the job are refused;
- installs a seccomp filter on ``socket()``: where Landlock holds TCP, only TCP sockets
  may be created (and then not connect); otherwise no IP socket at all; never UDP, raw,
  packet, netlink or unix sockets (``socketpair`` still works);

then execs the job. It imports only the standard library, so it runs with ``-I -S``.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from syft_code_queue.sandbox import Mounts

# Syscall numbers (the same on x86_64 and aarch64 for landlock).
_LANDLOCK_CREATE_RULESET = 444
_LANDLOCK_ADD_RULE = 445
_LANDLOCK_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
_CAPSET = {"x86_64": 126, "aarch64": 91}
_CAP_VERSION_3 = 0x20080522
_SECCOMP_MODE_FILTER = 2

# Landlock filesystem rights, by the ABI that introduced them.
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_ABI1 = (1 << 13) - 1
_MAKE_CHAR, _MAKE_BLOCK = 1 << 6, 1 << 11
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1 << 0, 1 << 1

# seccomp: arch tokens and the socket() syscall number per architecture.
_ARCHES = {"x86_64": (0xC000003E, 41), "aarch64": (0xC00000B7, 198)}
_AF_INET, _AF_INET6, _SOCK_STREAM, _IPPROTO_TCP = 2, 10, 1, 6
_IO_URING_SETUP = 425  # then io_uring_enter, io_uring_register (all architectures)
_RET_ALLOW, _RET_KILL, _RET_EPERM = 0x7FFF0000, 0x80000000, 0x00050001

# Devices a confined job may use.
_DEVICES = ("/dev/null", "/dev/zero", "/dev/random", "/dev/urandom", "/dev/tty")


def _syscall() -> Any:
    libc = ctypes.CDLL(None, use_errno=True)
    fn = libc.syscall
    fn.restype = ctypes.c_long
    return fn


def abi() -> int:
    """The Landlock ABI version of this kernel (0: none)."""
    if not sys.platform.startswith("linux"):
        return 0
    version = _syscall()(
        _LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION
    )
    return max(int(version), 0)


def unavailable_reason() -> str | None:
    """Why this backend cannot be used here, ``None`` if it can."""
    if not sys.platform.startswith("linux"):
        return f"Landlock is Linux only (this is {sys.platform})"
    if platform.machine() not in _ARCHES:
        return f"the seccomp filter does not know the {platform.machine()} architecture"
    if abi() < 1:
        return "this kernel has no Landlock (Linux 5.13+ with lsm=landlock)"
    return None


@dataclass(frozen=True)
class LandlockSeccomp:
    """Landlock (files, TCP, signals) + a seccomp socket filter, applied before exec."""

    abi: int
    name: str = "landlock"

    @property
    def network(self) -> str:
        if self.abi >= 4:
            return (
                f"no network: TCP connect and bind refused (Landlock ABI {self.abi}), UDP, raw "
                "and unix sockets refused (seccomp)"
            )
        return "no network: no IP, raw or unix socket can be created (seccomp)"

    @property
    def filesystem(self) -> str:
        return (
            "reads only the system, its code, DATA_DIR and its packages, writes only its code, "
            "home, temp and output folders; cannot open any other file of the owner, though it "
            f"may see names and sizes (Landlock ABI {self.abi})"
        )

    @property
    def processes(self) -> str:
        signals = (
            "cannot signal or trace the owner's processes (Landlock scopes)"
            if self.abi >= 6
            else "cannot trace the owner's processes (Landlock); NOT ENFORCED: it can signal them"
        )
        return f"{signals}; every process killed at the end"

    @property
    def copied(self) -> Sequence[str]:
        return ()  # Landlock rules name real paths: nothing is copied

    def prefix(self, mounts: Mounts) -> list[str]:
        from syft_code_queue.sandbox import ETC_ENTRIES, SYSTEM_DIRS, python_roots

        system = [*SYSTEM_DIRS, *(f"/etc/{entry}" for entry in ETC_ENTRIES)]
        if mounts.network:  # provisioning: name resolution too
            system += [str(Path(f"/etc/{name}").resolve()) for name in ("resolv.conf", "hosts")]
        readable = [*system, *map(str, python_roots()), *map(str, mounts.readable)]
        argv = [sys.executable, "-I", "-S", __file__]
        for folder in readable:
            argv += ["--ro", folder]
        for writable in mounts.writable:
            argv += ["--rw", str(writable)]
        if mounts.network:
            argv += ["--network"]
        return [*argv, "--chdir", str(mounts.workdir), "--"]


def backend() -> LandlockSeccomp | None:
    return None if unavailable_reason() else LandlockSeccomp(abi())


# The exec wrapper (runs with -I -S: standard library only)


def _fail(message: str) -> None:
    sys.stderr.write(f"scq-confine: {message}\n")
    sys.exit(125)


def _landlock(version: int, read: list[str], write: list[str], network: bool) -> None:
    call = _syscall()
    fs = _FS_ABI1 | (_REFER if version >= 2 else 0) | (_TRUNCATE if version >= 3 else 0)
    fs |= _IOCTL_DEV if version >= 5 else 0
    net = 0 if network or version < 4 else _NET_BIND_TCP | _NET_CONNECT_TCP
    scoped = (_SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL) if version >= 6 else 0
    if version >= 6:
        attr = struct.pack("QQQ", fs, net, scoped)
    elif version >= 4:
        attr = struct.pack("QQ", fs, net)
    else:
        attr = struct.pack("Q", fs)
    buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = call(_LANDLOCK_CREATE_RULESET, buf, ctypes.c_size_t(len(attr)), 0)
    if ruleset < 0:
        _fail(f"landlock_create_ruleset: {os.strerror(ctypes.get_errno())}")
    file_rights = _EXECUTE | _WRITE_FILE | _READ_FILE | (fs & (_TRUNCATE | _IOCTL_DEV))
    rules = [(p, _EXECUTE | _READ_FILE | _READ_DIR) for p in read]
    rules += [(p, fs & ~(_MAKE_CHAR | _MAKE_BLOCK)) for p in write]
    rules += [(d, _READ_FILE | _WRITE_FILE | (fs & (_TRUNCATE | _IOCTL_DEV))) for d in _DEVICES]
    for path, wanted in rules:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue  # a folder that does not exist here stays absent
        rights = wanted
        if not os.path.isdir(path):  # noqa: PTH112 - the wrapper keeps to os and ctypes
            rights &= file_rights  # rules on files take file rights only
        rule = ctypes.create_string_buffer(struct.pack("=Qi", rights, fd), 12)
        done = call(_LANDLOCK_ADD_RULE, ruleset, _RULE_PATH_BENEATH, rule, 0)
        os.close(fd)
        if done < 0:
            _fail(f"landlock_add_rule {path}: {os.strerror(ctypes.get_errno())}")
    if call(_LANDLOCK_RESTRICT_SELF, ruleset, 0) < 0:
        _fail(f"landlock_restrict_self: {os.strerror(ctypes.get_errno())}")
    os.close(ruleset)


def _drop_capabilities(libc: Any) -> None:
    """No capability survives into the job, even as root (no mknod, mount, module, reboot,
    raw I/O, ...): the bounding and ambient sets emptied, then every set of this process."""
    for cap in range(64):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() != 22:
            _fail(f"cannot drop capability {cap}: {os.strerror(ctypes.get_errno())}")
    libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = ctypes.create_string_buffer(struct.pack("Ii", _CAP_VERSION_3, 0), 8)
    data = ctypes.create_string_buffer(bytes(24), 24)  # two empty {effective, permitted, inh.}
    if _syscall()(_CAPSET[platform.machine()], header, data) != 0:
        _fail(f"capset: {os.strerror(ctypes.get_errno())}")


def _seccomp(allow_tcp: bool) -> None:
    arch, socket_nr = _ARCHES[platform.machine()]

    ld, jeq, jge, and_, ret = 0x20, 0x15, 0x35, 0x54, 0x06
    # (code, k, jump-if-true label, jump-if-false label); labels resolve to offsets below.
    listing: list[tuple[int, int, str | None, str | None]] = [
        (ld, 4, None, None),  # arch
        (jeq, arch, "native", None),
        (ret, _RET_KILL, None, None),
        (ld, 0, None, None),  # "native": the syscall number
        (jge, 0x40000000, "refuse", None),  # x32 syscalls
        # io_uring could create sockets without calling socket()
        (jeq, _IO_URING_SETUP, "refuse", None),
        (jeq, _IO_URING_SETUP + 1, "refuse", None),
        (jeq, _IO_URING_SETUP + 2, "refuse", None),
        (jeq, socket_nr, None, "allow"),
        (ld, 16, None, None),  # socket(domain, type, protocol)
        (jeq, _AF_INET, "ip", None),
        (jeq, _AF_INET6, None, "refuse"),
        (ld, 24, None, None),  # "ip": the type
        (and_, 0xF, None, None),
        (jeq, _SOCK_STREAM if allow_tcp else 0xFFFF, None, "refuse"),
        (ld, 32, None, None),  # the protocol: TCP only (not SCTP, MPTCP, ...)
        (jeq, 0, "allow", None),
        (jeq, _IPPROTO_TCP, "allow", None),
        (ret, _RET_EPERM, None, None),  # "refuse"
        (ret, _RET_ALLOW, None, None),  # "allow"
    ]
    labels = {"native": 3, "ip": 12, "refuse": len(listing) - 2, "allow": len(listing) - 1}
    program = []
    for index, (code_, k, true, false) in enumerate(listing):
        jt = labels[true] - index - 1 if true else 0
        jf = labels[false] - index - 1 if false else 0
        program.append(struct.pack("HBBI", code_, jt, jf, k))
    code = b"".join(program)
    filters = ctypes.create_string_buffer(code, len(code))
    prog = struct.pack("HxxxxxxP", len(program), ctypes.addressof(filters))
    prog_buf = ctypes.create_string_buffer(prog, len(prog))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, prog_buf, 0, 0) != 0:
        _fail(f"seccomp: {os.strerror(ctypes.get_errno())}")


def main(args: list[str]) -> None:
    read: list[str] = []
    write: list[str] = []
    network = False
    workdir = None
    while args and args[0] != "--":
        flag = args.pop(0)
        if flag == "--network":
            network = True
        elif flag in ("--ro", "--rw", "--chdir") and args:
            value = args.pop(0)
            {"--ro": read, "--rw": write}.get(flag, []).append(value)
            workdir = value if flag == "--chdir" else workdir
        else:
            _fail(f"unknown argument {flag!r}")
    argv = args[1:]
    if not argv:
        _fail("no command after --")
    version = abi()
    if version < 1:
        _fail("this kernel has no Landlock")
    libc = ctypes.CDLL(None, use_errno=True)
    _drop_capabilities(libc)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        _fail(f"no_new_privs: {os.strerror(ctypes.get_errno())}")
    _landlock(version, read, write, network)
    if not network:
        _seccomp(allow_tcp=version >= 4)
    if workdir is not None:
        os.chdir(workdir)
    try:
        os.execvp(argv[0], argv)  # noqa: S606 - the job's own argv, as bash would run it
    except OSError as exc:
        _fail(f"cannot run {argv[0]}: {exc}")


if __name__ == "__main__":
    main(sys.argv[1:])
