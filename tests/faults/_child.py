"""Child processes of the fault suite, run as ``python _child.py <command> ...``.

Commands:
    server   a data owner's server: optionally waits for a "go" file, tries to take the
             lock with start() or tick(), reports the outcome, optionally keeps retrying,
             and runs until a "stop" file appears (or it is SIGKILLed).
    submit   a data scientist submitting many jobs, one result line per published job.
    review   a review-only owner process that lists pending jobs in a loop (which receives).
    die-at   an owner server SIGKILLed at a chosen point of receiving (audit, copy).
    zygote   forks writer processes on demand (a warm interpreter makes 200 kills cheap):
             each writer rewrites one JSON file with fsio.atomic_write_json forever.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from syft_code_queue.errors import ServerAlreadyRunningError


def _wait_file(path: Path | None, timeout: float = 60.0) -> None:
    if path is None:
        return
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {path}")
        time.sleep(0.0005)


def _write_json(path: Path, obj: object) -> None:
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(json.dumps(obj))
    tmp.replace(path)


def _server(args: argparse.Namespace) -> int:
    import syft_code_queue as scq

    server = scq.create_server(
        email=args.email,
        syftbox_dir=args.syftbox,
        max_concurrent_jobs=args.max_concurrent,
        job_timeout=args.job_timeout,
        poll_interval=0.05,
    )
    result: dict[str, object] = {"pid": os.getpid(), "acquired": False, "refusals": 0}
    if args.armed is not None:
        _write_json(args.armed, {"pid": os.getpid()})
    _wait_file(args.go)

    def attempt() -> bool:
        try:
            if args.mode == "start":
                server.start()
            else:
                server.tick()
        except ServerAlreadyRunningError as exc:
            result["refusals"] = int(str(result["refusals"])) + 1
            result.setdefault("message", str(exc))
            return False
        return True

    won = attempt()
    result["first"] = "won" if won else "refused"
    if args.once:
        _write_json(args.result, result)
        server.ledger.close()
        return 0 if won else 3
    while not won:
        if args.stop is not None and args.stop.exists():
            break
        time.sleep(0.02)
        won = attempt()
    if won:
        result["acquired"] = True
        if args.ready is not None:
            _write_json(args.ready, {"pid": os.getpid()})
        while args.stop is None or not args.stop.exists():
            if args.mode == "tick":
                server.tick()
                server._wake.wait(0.02)
                server._wake.clear()
            else:
                time.sleep(0.02)
    server.close()
    if args.result is not None:
        _write_json(args.result, result)
    return 0


def _die_at(args: argparse.Namespace) -> int:
    """An owner server SIGKILLed at a chosen point of receiving: right after its first audit
    append (fsynced, before the ledger commit), or after copying the first file of a
    request into its temp snapshot folder."""
    import signal

    import syft_code_queue as scq
    from syft_code_queue import audit, safewalk

    module, name = (audit, "append_entries") if args.point == "audit" else (safewalk, "copy_file")
    real = getattr(module, name)

    def call_then_die(*a: object, **kw: object) -> object:
        real(*a, **kw)
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")

    setattr(module, name, call_then_die)
    server = scq.create_server(email=args.email, syftbox_dir=args.syftbox)
    server.tick()
    return 1


def _review(args: argparse.Namespace) -> int:
    """A review-only owner process (a notebook): lists pending jobs over and over, which
    receives requests too, while another process serves the queue."""
    import traceback

    import syft_code_queue as scq

    server = scq.create_server(email=args.email, syftbox_dir=args.syftbox)
    if args.armed is not None:
        _write_json(args.armed, {"pid": os.getpid()})
    errors: list[str] = []
    loops = 0
    while not args.stop.exists():
        try:
            server.list_pending_jobs()
        except Exception:
            errors.append(traceback.format_exc())
        loops += 1
    server.ledger.close()
    _write_json(args.result, {"loops": loops, "errors": errors})
    return 0


def _submit(args: argparse.Namespace) -> int:
    import syft_code_queue as scq

    client = scq.create_client(email=args.email, syftbox_dir=args.syftbox)
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    if args.armed is not None:
        _write_json(args.armed, {"pid": os.getpid()})
    _wait_file(args.go)
    fd = os.open(args.result, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for k in range(args.count):
            (work / "run.sh").write_text(f"#!/bin/bash\necho '{args.email} job {k}'\n")
            # a few KB of content unique to this job, so a mix-up would be visible
            blob = os.urandom(2048 + k).hex()
            (work / "data").mkdir(exist_ok=True)
            (work / "data" / "blob.txt").write_text(blob)
            job = client.submit_code(args.target, work, f"{args.email} #{k}")
            line = json.dumps({"uid": str(job.uid), "code_hash": job.code_hash, "k": k})
            os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)
    return 0


def _zygote(_: argparse.Namespace) -> int:
    from syft_code_queue.fsio import atomic_write_json

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from faultlib import torn_payload

    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        if parts[0] != "write":
            return 0
        trial, path, size = int(parts[1]), Path(parts[2]), int(parts[3])
        pid = os.fork()
        if pid == 0:  # the writer: rewrite the file until SIGKILLed
            try:
                n = 0
                while True:
                    atomic_write_json(path, torn_payload(trial, n, size))
                    n += 1
            finally:
                os._exit(1)
        print(f"pid {pid}", flush=True)
        _pid, status = os.waitpid(pid, 0)
        print(f"exit {status}", flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    srv = sub.add_parser("server")
    srv.add_argument("--syftbox", type=Path, required=True)
    srv.add_argument("--email", required=True)
    srv.add_argument("--mode", choices=("start", "tick"), default="start")
    srv.add_argument("--max-concurrent", type=int, default=4)
    srv.add_argument("--job-timeout", type=float, default=120.0)
    srv.add_argument("--go", type=Path)
    srv.add_argument("--stop", type=Path)
    srv.add_argument("--ready", type=Path)
    srv.add_argument("--armed", type=Path)
    srv.add_argument("--result", type=Path)
    srv.add_argument("--once", action="store_true")
    sm = sub.add_parser("submit")
    sm.add_argument("--syftbox", type=Path, required=True)
    sm.add_argument("--email", required=True)
    sm.add_argument("--target", required=True)
    sm.add_argument("--count", type=int, required=True)
    sm.add_argument("--work", type=Path, required=True)
    sm.add_argument("--result", type=Path, required=True)
    sm.add_argument("--go", type=Path)
    sm.add_argument("--armed", type=Path)
    rv = sub.add_parser("review")
    rv.add_argument("--syftbox", type=Path, required=True)
    rv.add_argument("--email", required=True)
    rv.add_argument("--stop", type=Path, required=True)
    rv.add_argument("--result", type=Path, required=True)
    rv.add_argument("--armed", type=Path)
    da = sub.add_parser("die-at")
    da.add_argument("point", choices=("audit", "copy"))
    da.add_argument("--syftbox", type=Path, required=True)
    da.add_argument("--email", required=True)
    sub.add_parser("zygote")
    args = parser.parse_args()
    handlers = {
        "server": _server,
        "submit": _submit,
        "review": _review,
        "die-at": _die_at,
        "zygote": _zygote,
    }
    handler = handlers[args.command]
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
