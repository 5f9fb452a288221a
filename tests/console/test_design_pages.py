"""The legal console's design registry pages over HTTP: registering through the form (refused
files, duplicates and invalid fields store nothing), near-copies flagged and decided in the
review queue, search with side-by-side thumbnails, lineage, lookups, who may see the pages
(legal staff with two-step sign-in only), CSRF, and both languages."""

from __future__ import annotations

import re
from typing import Any

import httpx2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hallmark.store.models import DesignRegistration, DesignReview
from tests.console.conftest import Account, Console, csrf, post_sign_in
from tests.designs.corpus import draw_design, encode, image_variant

LEGAL = "Lune Legal"


@pytest.fixture(scope="module")
def drawings() -> list[np.ndarray]:
    return [draw_design(seed) for seed in (611, 612, 613)]


@pytest.fixture
def legal(console: Console) -> tuple[Account, TestClient]:
    account = console.account(LEGAL, "li.wei", "legal")
    return account, console.sign_in(account)


def register(
    client: TestClient,
    data: bytes,
    *,
    filename: str = "design.png",
    media_type: str = "image/png",
    token: str | None = None,
    **fields: str,
) -> httpx2.Response:
    if token is None:
        token = csrf(client.get("/console/designs/register"))
    form = {"title": "Lotus pendant", "owner_ref": "CUST-0042", "authorization": "simple"}
    form.update(fields)
    return client.post(
        "/console/designs/register",
        data={"csrf_token": token, **form},
        files={"file": (filename, data, media_type)},
    )


def search(client: TestClient, data: bytes, filename: str = "query.png") -> httpx2.Response:
    token = csrf(client.get("/console/designs"))
    return client.post(
        "/console/designs/search",
        data={"csrf_token": token},
        files={"file": (filename, data, "application/octet-stream")},
    )


def number_of(answer: httpx2.Response) -> str:
    assert answer.status_code == 303, answer.text
    found = re.match(r"/console/designs/(D-[0-9A-Z-]+)\?done=(\w+)$", answer.headers["location"])
    assert found is not None, answer.headers["location"]
    return found.group(1)


def count(console: Console, model: Any = DesignRegistration) -> int:
    with console.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_register_then_see_the_registration_and_its_audit_entry(
    console: Console, legal: tuple[Account, TestClient], drawings: list[np.ndarray]
) -> None:
    _, client = legal
    answer = register(
        client,
        encode(drawings[0]),
        designers="Ana Lima\nZhou Min",
        inspiration="Lotus carvings, Guimet\nSketchbook 12",
        notes="First sketch",
        licences="Musée Guimet lotus motif " + "ab" * 32,
        authorization="signed_confirmation",
        authorization_document="cd" * 32,
    )
    number = number_of(answer)
    assert answer.headers["location"].endswith("?done=registered")
    page = client.get(answer.headers["location"])
    assert page.status_code == 200
    text = page.text
    for expected in (
        number,
        "Lotus pendant",
        "CUST-0042",
        "Ana Lima, Zhou Min",
        "Lotus carvings, Guimet",
        "Musée Guimet lotus motif",
        "ab" * 32,
        "cd" * 32,
        "Signed copyright confirmation",
        "Committed, waiting to be filed on chain",
        "This is a first draft",
    ):
        assert expected in text, expected
    assert f'/console/designs/{number}/original"' in text  # legal downloads originals
    thumb = client.get(f"/console/designs/{number}/thumbnail.png")
    assert thumb.status_code == 200 and thumb.content.startswith(b"\x89PNG")
    original = client.get(f"/console/designs/{number}/original")
    assert original.content == encode(drawings[0])
    assert "can be downloaded once the registration is filed on chain" in text
    early = client.get(f"/console/designs/{number}/evidence?format=pdf")
    assert early.status_code == 409
    assert "There is no evidence yet: the registration is not filed on chain" in early.text
    [entry] = console.audit("design.register")
    assert entry.object_id == number and entry.outcome == "ok"
    assert entry.details is not None and entry.details["via"] == "console"


def test_an_exact_duplicate_is_refused_naming_the_registration(
    console: Console, legal: tuple[Account, TestClient], drawings: list[np.ndarray]
) -> None:
    _, client = legal
    number = number_of(register(client, encode(drawings[0])))
    again = register(client, encode(drawings[0]), title="Same file again")
    assert again.status_code == 409
    assert f"This file is registered already as {number}" in again.text
    assert "CUST-0042" in again.text
    assert 'value="Same file again"' in again.text  # the form keeps what was typed
    assert count(console) == 1


@pytest.mark.parametrize(
    ("data", "filename", "fields", "status", "message"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "broken.png", {}, 422, "cannot be read safely"),
        (b"solid x\nfacet normal 0 0 1\n", "design.png", {}, 415, "is not what its name"),
        (None, "design.png", {"title": " "}, 422, "A title of 1 to 300 characters"),
        (None, "design.png", {"authorization": "signed_confirmation"}, 422, "SHA-256 of the"),
        (None, "design.png", {"licences": "museum motif"}, 422, "each licence on its own line"),
        (None, "design.png", {"parent": "D-2026-NOSUCH"}, 404, "no registration D-2026-NOSUCH"),
    ],
)
def test_refused_registrations_store_nothing(
    console: Console,
    legal: tuple[Account, TestClient],
    drawings: list[np.ndarray],
    data: bytes | None,
    filename: str,
    fields: dict[str, str],
    status: int,
    message: str,
) -> None:
    _, client = legal
    answer = register(client, data or encode(drawings[1]), filename=filename, **fields)
    assert answer.status_code == status, answer.text
    assert message in answer.text
    assert 'role="alert"' in answer.text
    assert count(console) == 0
    files = console.settings.effective_files_dir
    assert not files.exists() or not any(p.is_file() for p in files.rglob("*"))


def test_a_near_copy_is_flagged_and_decided_in_the_review_queue(
    console: Console, legal: tuple[Account, TestClient], drawings: list[np.ndarray]
) -> None:
    _, client = legal
    original = number_of(register(client, encode(drawings[0])))
    rotated = image_variant(drawings[0], "rotation", np.random.default_rng(5), 5)
    answer = register(client, rotated, title="Rotated lotus", owner_ref="CUST-0099")
    copy = number_of(answer)
    assert answer.headers["location"].endswith("?done=flagged")
    unrelated = register(client, encode(drawings[2]), title="Unrelated")
    assert number_of(unrelated) and unrelated.headers["location"].endswith("?done=registered")

    queue = client.get("/console/designs/reviews")
    assert queue.status_code == 200
    assert "never a verdict" in queue.text
    assert queue.text.count('class="card wide review"') == 1
    assert f"/console/designs/{copy}/thumbnail.png" in queue.text
    assert f"/console/designs/{original}/thumbnail.png" in queue.text  # side by side
    assert "Area covered" in queue.text
    [review_id] = re.findall(r'action="/console/designs/reviews/(\d+)"', queue.text)

    token = csrf(queue)
    no_choice = client.post(
        f"/console/designs/reviews/{review_id}", data={"csrf_token": token, "decision": "guilty"}
    )
    assert no_choice.status_code == 422
    assert "Choose distinct, infringing or derived." in no_choice.text
    decided = client.post(
        f"/console/designs/reviews/{review_id}",
        data={"csrf_token": token, "decision": "derived", "note": "licensed variant"},
    )
    assert decided.status_code == 303
    assert decided.headers["location"] == "/console/designs/reviews?done=decided"
    after = client.get(decided.headers["location"])
    assert "The decision is recorded." in after.text
    assert "0 entries." in after.text
    derived = client.get("/console/designs/reviews?state=derived")
    assert "licensed variant" in derived.text and copy in derived.text
    assert "<form" not in derived.text.split('id="review-')[1]  # decided: no form
    again = client.post(
        f"/console/designs/reviews/{review_id}",
        data={"csrf_token": token, "decision": "distinct"},
    )
    assert again.status_code == 409
    assert "This entry was decided already." in again.text
    with console.sessions() as session:
        review = session.get(DesignReview, int(review_id))
        assert review is not None and review.state == "derived"
        assert review.note == "licensed variant"
    [entry] = console.audit("design.review")
    assert entry.object_id == copy
    detail = client.get(f"/console/designs/{copy}")
    assert "Flagged for review" in detail.text and "Derived" in detail.text


def test_search_shows_the_exact_match_and_similar_designs_side_by_side(
    console: Console, legal: tuple[Account, TestClient], drawings: list[np.ndarray]
) -> None:
    _, client = legal
    original = number_of(register(client, encode(drawings[0])))
    number_of(register(client, encode(drawings[2]), title="Unrelated"))

    exact = search(client, encode(drawings[0]))
    assert exact.status_code == 200
    section = exact.text.split('id="exact"')[1].split('id="similar"')[0]
    assert original in section and "CUST-0042" in section
    assert "This exact file is not registered." not in section

    copy = image_variant(drawings[0], "mirror", np.random.default_rng(3), 3)
    found = search(client, copy, "mirror.png")
    assert found.status_code == 200
    assert "never a verdict" in found.text
    assert "This exact file is not registered." in found.text
    similar = found.text.split('id="similar"')[1]
    ranked = re.findall(r'<a href="/console/designs/(D-[0-9A-Z-]+)">', similar)
    assert ranked[0] == original
    assert "Code distance" in similar or "Area covered" in similar
    [preview] = re.findall(r'src="(/console/designs/search/[\w-]+\.png)"', similar)[:1]
    image = client.get(preview)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    # The searched file's thumbnail is for the session that searched only; nothing is stored.
    other = console.sign_in(console.account(LEGAL, "chen.jie", "legal"))
    assert other.get(preview).status_code == 404
    assert count(console) == 2


def test_lineage_and_lookups(
    console: Console, legal: tuple[Account, TestClient], drawings: list[np.ndarray]
) -> None:
    _, client = legal
    first = number_of(register(client, encode(drawings[0]), designers="Ana Lima"))
    page = client.get(f"/console/designs/register?parent={first}")
    assert f'value="{first}"' in page.text
    second = number_of(
        register(
            client,
            encode(drawings[1]),
            title="Lotus pendant, draft 2",
            designers="Ana Lima\nZhou Min",
            owner_ref="CUST-0777",
            parent=first,
        )
    )
    third = number_of(
        register(client, encode(drawings[2]), title="Lotus pendant, draft 3", parent=second)
    )
    lineage = client.get(f"/console/designs/{third}").text.split('id="lineage"')[1]
    lineage = lineage.split("</section>")[0]
    assert lineage.index(second) < lineage.index(first)  # the parent first

    by_number = client.get(f"/console/designs?ref={second.lower()}")
    assert by_number.status_code == 303 and by_number.headers["location"].endswith(second)
    with console.sessions() as session:
        sha = session.scalar(
            select(DesignRegistration.fingerprint).where(DesignRegistration.number == third)
        )
    by_fingerprint = client.get(f"/console/designs?ref={sha}")
    assert by_fingerprint.headers["location"] == f"/console/designs/{third}"
    missing = client.get("/console/designs?ref=D-2026-000000000000")
    assert missing.status_code == 404
    assert "There is no registration D-2026-000000000000." in missing.text

    def found(query: str) -> list[str]:
        answer = client.get(f"/console/designs?{query}")
        assert answer.status_code == 200, answer.text
        return re.findall(r'<li class="design">.*?<code>(D-[0-9A-Z-]+)</code>', answer.text, re.S)

    assert found("designer=zhou+min") == [second]
    assert found("designer=Ana+Lima") == [first, second]
    assert found("owner=CUST-0777") == [second]
    assert found("since=2000-01-01&until=2999-12-31") == [first, second, third]
    assert found("until=2000-01-01") == []
    bad = client.get("/console/designs?since=yesterday")
    assert bad.status_code == 422 and "Write dates as YYYY-MM-DD." in bad.text


@pytest.mark.parametrize(
    ("organisation", "role"), [("Lune Legal", "admin"), ("Maison Lune", "viewer")]
)
def test_only_a_legal_organisations_registrars_see_the_registry_pages(
    console: Console, organisation: str, role: str
) -> None:
    client = console.sign_in(console.account(organisation, "someone", role))
    for path in ("/console/designs", "/console/designs/register", "/console/designs/reviews"):
        answer = client.get(path)
        assert answer.status_code == 403, path
        assert "Your role does not give access to this page." in answer.text
    assert "/console/designs" not in client.get("/console/account").text  # no link either
    assert console.audit("GET /console/designs")


def test_a_registrar_uses_the_registry_pages_only_with_two_step_sign_in(
    console: Console, drawings: list[np.ndarray]
) -> None:
    without = console.sign_in(console.account(LEGAL, "reg.one", "registrar"))
    refused = without.get("/console/designs")
    assert refused.status_code == 403
    assert "The legal pages need two-step sign-in." in refused.text
    token = csrf(without.get("/console/account"))
    assert register(without, encode(drawings[0]), token=token).status_code == 403
    assert count(console) == 0

    enrolled = console.account(LEGAL, "reg.two", "registrar", totp_enrolled=True)
    client = console.sign_in(enrolled)
    assert client.get("/console/designs").status_code == 200
    assert 'href="/console/designs/reviews"' in client.get("/console/account").text
    number_of(register(client, encode(drawings[0])))
    assert count(console) == 1


def test_legal_staff_cannot_reach_the_registry_without_an_authenticator(
    console: Console,
) -> None:
    account = console.account(LEGAL, "new.hire", "legal", totp_enrolled=False)
    client = console.client()
    answer = post_sign_in(client, account.username, account.password)
    assert answer.headers["location"].startswith("/console/sign-in/authenticator")
    for path in ("/console/designs", "/console/designs/reviews"):
        refused = client.get(path)
        assert refused.status_code == 303
        assert refused.headers["location"].startswith("/console/sign-in/authenticator")


def test_forms_without_the_csrf_token_are_refused_and_store_nothing(
    console: Console, legal: tuple[Account, TestClient], drawings: list[np.ndarray]
) -> None:
    _, client = legal
    answer = register(client, encode(drawings[0]), token="forged")
    assert answer.status_code == 403
    assert count(console) == 0
    cross = client.post(
        "/console/designs/search",
        data={"csrf_token": csrf(client.get("/console/designs"))},
        files={"file": ("q.png", encode(drawings[0]), "image/png")},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert cross.status_code == 403


def test_the_pages_in_chinese(
    console: Console, legal: tuple[Account, TestClient], drawings: list[np.ndarray]
) -> None:
    _, client = legal
    client.cookies.set("hallmark_lang", "zh")
    home = client.get("/console/designs")
    assert '<html lang="zh-CN">' in home.text
    assert "相似只是提示" in home.text
    number = number_of(register(client, encode(drawings[0])))
    again = register(client, encode(drawings[0]))
    assert again.status_code == 409 and f"此文件已登记为 {number}" in again.text
    detail = client.get(f"/console/designs/{number}")
    assert "谱系" in detail.text and "已承诺，等待上链登记" in detail.text  # noqa: RUF001
    assert "审查队列" in client.get("/console/designs/reviews").text
