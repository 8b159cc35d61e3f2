"""The seed README's quick start, as written, for both roles in two processes on one folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import DS_EMAIL, make_package

# The data scientist's quick start from the seed README, verbatim but for the prints.
DATA_SCIENTIST = """
import syft_code_queue as scq

# Submit code for execution
job = scq.submit_code(
    target_email="data-owner@university.edu",
    code_folder=my_analysis_package,
    name="Statistical Analysis",
    description="Aggregate statistics computation",
    tags=["statistics", "privacy-safe"]
)

print(f"Job submitted: {job.uid}")
print(f"Status: {job.status}")  # Will be 'pending'
"""

# The data owner's quick start from the seed README, verbatim.
DATA_OWNER = """
import syft_code_queue as scq

# Create server and review pending jobs
server = scq.create_server()
pending_jobs = server.list_pending_jobs()

# Review and approve/reject manually
for job in pending_jobs:
    print(f"Job: {job.name} from {job.requester_email}")
    # ... inspect job.code_folder ...

    # Manual approval decision
    server.approve_job(job.uid)  # or
    # server.reject_job(job.uid, "Reason for rejection")

# Start server to execute approved jobs
server.start()
"""

OWNER_EMAIL = "data-owner@university.edu"


def run_as(email: str, syftbox_dir: Path, code: str) -> str:
    env = {**os.environ, "SYFTBOX_EMAIL": email, "SYFTBOX_DATA_DIR": str(syftbox_dir)}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_seed_quick_start_runs_as_written_between_two_processes(
    syftbox_dir: Path, tmp_path: Path
) -> None:
    package = make_package(tmp_path / "my_analysis", 'echo "mean: 42" > "$OUTPUT_DIR/stats.txt"\n')
    submitted = run_as(
        DS_EMAIL, syftbox_dir, f"my_analysis_package = {str(package)!r}\n" + DATA_SCIENTIST
    )
    uid = submitted.split("Job submitted: ")[1].split()[0]
    assert "Status: pending" in submitted

    # The owner's snippet, then what a long-running owner process would do next: let the
    # started server finish the approved job before the process ends.
    reviewed = run_as(
        OWNER_EMAIL,
        syftbox_dir,
        DATA_OWNER + f"\nprint('final:', server.wait({uid!r}, timeout=60).status)\nserver.stop()\n",
    )
    assert f"Job: Statistical Analysis from {DS_EMAIL}" in reviewed
    assert "final: completed" in reviewed

    seen = run_as(
        DS_EMAIL,
        syftbox_dir,
        f"""
        import json, syft_code_queue as scq
        client = scq.create_client()
        job = client.get_job({uid!r})
        print(json.dumps({{"status": job.status.value,
                           "output": (client.get_job_output(job.uid) / "stats.txt").read_text()}}))
        """,
    )
    assert json.loads(seen) == {"status": "completed", "output": "mean: 42\n"}
