"""The review table's pages: filtered, searched and sorted by the ledger, not in Python."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import syft_code_queue as scq
from syft_code_queue import ledger as ledger_module
from syft_code_queue.models import JobStatus, utcnow
from syft_code_queue.views import ReviewPage
from tests.conftest import DO_EMAIL, make_package

ALICE = "alice@example.com"
BOB = "bob@example.com"


@pytest.fixture
def queue(do: scq.CodeQueueServer, syftbox_dir: Path, tmp_path: Path) -> dict[str, scq.CodeJob]:
    """Six jobs from two data scientists, received in this order."""
    folder = make_package(tmp_path / "pkg")
    clients = {e: scq.create_client(email=e, syftbox_dir=syftbox_dir) for e in (ALICE, BOB)}
    specs = [
        (ALICE, "Cohort statistics", ["cohort", "weekly"]),
        (BOB, "age histogram", ["plots"]),
        (ALICE, "Zeta model fit", []),
        (BOB, "100%_coverage check", ["qa"]),
        (ALICE, "Bäckerei sales", ["Weekly"]),
        (BOB, "cohort survival", []),
    ]
    jobs = {}
    for i, (who, name, tags) in enumerate(specs):
        jobs[name] = clients[who].submit_code(DO_EMAIL, folder, name, tags=tags)
        do.tick(utcnow() + timedelta(seconds=i))  # received one by one, in order
    return jobs


def names(page: ReviewPage) -> list[str]:
    rows, _ = page
    return [job.name for job in rows]


def test_the_first_page_lists_pending_jobs_oldest_first_with_the_total(
    do: scq.CodeQueueServer, queue: dict[str, scq.CodeJob]
) -> None:
    page = do.review_page("pending", limit=2)
    assert names(page) == ["Cohort statistics", "age histogram"]
    assert page.total == 6
    assert all(isinstance(job, scq.CodeJob) for job in page.rows)


def test_pages_cover_every_job_once(do: scq.CodeQueueServer, queue: dict[str, scq.CodeJob]) -> None:
    seen = []
    for offset in range(0, 6, 4):
        seen += names(do.review_page(offset=offset, limit=4))
    assert seen == list(queue)
    assert do.review_page(offset=6).rows == []


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("cohort", ["Cohort statistics", "cohort survival"]),  # any case
        ("COHORT surv", ["cohort survival"]),  # every term must match
        ("weekly", ["Cohort statistics", "Bäckerei sales"]),  # tags
        ("bob@", ["age histogram", "100%_coverage check", "cohort survival"]),  # requester
        ("BÄCKEREI", ["Bäckerei sales"]),  # beyond ASCII
        ("100%_", ["100%_coverage check"]),  # % and _ are literal
        ("0%", ["100%_coverage check"]),
        ("_c", ["100%_coverage check"]),
        ("nothing-like-this", []),
    ],
)
def test_search_matches_name_requester_and_tags(
    do: scq.CodeQueueServer, queue: dict[str, scq.CodeJob], search: str, expected: list[str]
) -> None:
    page = do.review_page(search=search)
    assert names(page) == expected
    assert page.total == len(expected)


def test_search_by_uid_prefix(do: scq.CodeQueueServer, queue: dict[str, scq.CodeJob]) -> None:
    job = queue["Zeta model fit"]
    assert names(do.review_page(search=job.short_id.upper())) == ["Zeta model fit"]


@pytest.mark.parametrize(
    ("sort", "descending", "expected"),
    [
        ("name", False, ["100%_coverage check", "age histogram", "Bäckerei sales",
                         "Cohort statistics", "cohort survival", "Zeta model fit"]),
        ("name", True, ["Zeta model fit", "cohort survival", "Cohort statistics",
                        "Bäckerei sales", "age histogram", "100%_coverage check"]),
        ("requester", False, ["Cohort statistics", "Zeta model fit", "Bäckerei sales",
                              "age histogram", "100%_coverage check", "cohort survival"]),
        ("received_at", True, ["cohort survival", "Bäckerei sales", "100%_coverage check",
                               "Zeta model fit", "age histogram", "Cohort statistics"]),
    ],
)  # fmt: skip
def test_sorting(
    do: scq.CodeQueueServer,
    queue: dict[str, scq.CodeJob],
    sort: str,
    descending: bool,
    expected: list[str],
) -> None:
    assert names(do.review_page(sort=sort, descending=descending)) == expected


def test_status_filter_and_sort_follow_decisions(
    do: scq.CodeQueueServer, queue: dict[str, scq.CodeJob]
) -> None:
    do.approve_job(queue["age histogram"].uid)
    do.reject_job(queue["Zeta model fit"].uid, "no")
    assert do.review_page("pending").total == 4
    assert names(do.review_page(JobStatus.approved)) == ["age histogram"]
    by_status = names(do.review_page(sort="status", limit=2))
    assert by_status == ["age histogram", "Cohort statistics"]  # approved < pending < rejected
    [approved] = do.review_page("approved").rows
    assert approved.status is JobStatus.approved


def test_requester_filter(do: scq.CodeQueueServer, queue: dict[str, scq.CodeJob]) -> None:
    page = do.review_page(requester="Alice@Example.com", search="weekly")
    assert names(page) == ["Cohort statistics", "Bäckerei sales"]


def test_a_page_runs_no_intake_scan(
    do: scq.CodeQueueServer,
    queue: dict[str, scq.CodeJob],
    ds: scq.CodeQueueClient,
    code_folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_scan(*_args: object) -> None:
        raise AssertionError("review_page scanned the outboxes")

    ds.submit_code(DO_EMAIL, code_folder, "arrives later")
    monkeypatch.setattr(do._intake, "scan", no_scan)
    assert do.review_page().total == 6
    monkeypatch.undo()
    do.tick()
    assert do.review_page().total == 7


def test_bad_arguments_are_refused(do: scq.CodeQueueServer) -> None:
    with pytest.raises(ValueError, match="sort must be one of"):
        do.review_page(sort="size")
    with pytest.raises(ValueError, match="limit must be"):
        do.review_page(limit=0)
    with pytest.raises(ValueError, match="offset"):
        do.review_page(offset=-1)
    with pytest.raises(ValueError, match="is not a valid JobStatus"):
        do.review_page("waiting")


@pytest.mark.parametrize(("few", "walk"), [(2000, 5000), (0, 0), (0, 1_000_000)])
@pytest.mark.parametrize(
    "kwargs",
    [
        {"search": "cohort"},
        {"search": "o", "descending": True, "offset": 1, "limit": 2},
        {"status": "pending", "search": "e", "sort": "status"},
        {"status": "pending", "requester": BOB, "search": "c"},
        {"search": "e", "sort": "requester"},
    ],
)
def test_a_search_gives_the_same_page_whichever_index_finds_it(
    do: scq.CodeQueueServer,
    queue: dict[str, scq.CodeJob],
    monkeypatch: pytest.MonkeyPatch,
    few: int,
    walk: int,
    kwargs: dict[str, Any],
) -> None:
    everything = do.review_page(
        limit=1000,
        sort=kwargs.get("sort", "received_at"),
        descending=kwargs.get("descending", False),
    )
    expected = [
        job.name
        for job in everything.rows
        if all(
            term in f"{job.name}\n{job.requester_email}\n{' '.join(job.tags)}".casefold()
            for term in kwargs["search"].split()
        )
        and job.status.value == kwargs.get("status", job.status.value)
        and job.requester_email == kwargs.get("requester", job.requester_email)
    ]
    start = kwargs.get("offset", 0)
    wanted = expected[start : start + kwargs.get("limit", 50)]
    # Few matches sorted in Python, or many read in order from the sort's own index, or
    # sorted from the covering index: the same page.
    monkeypatch.setattr(ledger_module, "_FEW", few)
    monkeypatch.setattr(ledger_module, "_ORDERED_WALK", walk)
    page = do.review_page(**kwargs)
    assert (names(page), page.total) == (wanted, len(expected))
