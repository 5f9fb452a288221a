"""Attachments: encrypted at rest, content-addressed, authenticated, downloadable where visible."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pydantic
import pytest

from hallmark.config import Settings
from hallmark.core.errors import FileCorruptError, NotFoundError
from hallmark.store.files import EncryptedFileStore
from tests.conftest import World
from tests.records.factories import (
    BRAND,
    BRAND_2,
    FACTORY,
    FACTORY_2,
    SUPPLIER,
    SUPPLIER_2,
    add_step,
    create_lot,
    create_product,
    step_body,
)


def _upload(world: World, data: bytes, org: str = FACTORY, media: str = "image/jpeg") -> dict:
    response = world.http.post(
        "/api/v1/attachments", content=data, headers=world.headers(org, **{"Content-Type": media})
    )
    assert response.status_code == 201, response.text
    result: dict = response.json()
    return result


def _stored_path(world: World, sha: str) -> Path:
    root = world.runtime.settings.effective_files_dir
    return root / sha[:2] / sha


def test_upload_is_encrypted_at_rest_and_addressed_by_its_sha256(world: World) -> None:
    data = b"\xff\xd8\xff\xe0 engraving path G1 X0 Y0 " + b"PLAINTEXT-MARKER" * 64
    meta = _upload(world, data)
    assert meta == {
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "media_type": "image/jpeg",
    }
    stored = _stored_path(world, meta["sha256"]).read_bytes()
    assert b"PLAINTEXT-MARKER" not in stored
    assert len(stored) == len(data) + 1 + 12 + 16
    again = _upload(world, data)  # content addressing: the same file, once
    assert again == meta
    download = world.http.get(
        f"/api/v1/attachments/{meta['sha256']}", headers=world.headers(FACTORY, "reader")
    )
    assert download.status_code == 200
    assert download.content == data
    assert download.headers["content-type"] == "image/jpeg"


def test_tampered_ciphertext_is_refused(world: World) -> None:
    meta = _upload(world, b"photo of the setting " * 10)
    path = _stored_path(world, meta["sha256"])
    sealed = bytearray(path.read_bytes())
    sealed[-5] ^= 0x01
    path.write_bytes(bytes(sealed))
    response = world.http.get(
        f"/api/v1/attachments/{meta['sha256']}", headers=world.headers(FACTORY)
    )
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "file_corrupt"


def test_store_refuses_other_keys_and_moved_files(tmp_path: Path) -> None:
    store = EncryptedFileStore(tmp_path, bytes(range(32)))
    first, second = store.put(b"first file"), store.put(b"second file")
    assert store.get(first) == b"first file"
    other_key = EncryptedFileStore(tmp_path, bytes(range(1, 33)))
    with pytest.raises(FileCorruptError):
        other_key.get(first)
    store.path_of(second).write_bytes(store.path_of(first).read_bytes())
    with pytest.raises(FileCorruptError):
        store.get(second)
    with pytest.raises(NotFoundError):
        store.get("ab" * 32)


def test_multipart_upload_and_size_limit(world: World) -> None:
    response = world.http.post(
        "/api/v1/attachments",
        files={"file": ("path.nc", b"G1 X1 Y1", "text/plain")},
        headers=world.headers(FACTORY),
    )
    assert response.status_code == 201
    assert response.json()["media_type"] == "text/plain"
    settings = world.runtime.settings
    saved = settings.attachment_max_bytes
    settings.attachment_max_bytes = 100
    try:
        big = world.http.post(
            "/api/v1/attachments",
            content=b"x" * 101,
            headers=world.headers(FACTORY, **{"Content-Type": "video/mp4"}),
        )
    finally:
        settings.attachment_max_bytes = saved
    assert big.status_code == 413
    assert big.json()["error"]["code"] == "payload_too_large"
    reader = world.http.post(
        "/api/v1/attachments", content=b"x", headers=world.headers(FACTORY, "reader")
    )
    assert reader.status_code == 403


def test_step_attachments_are_visible_to_whoever_sees_the_product(world: World) -> None:
    photo = _upload(world, b"a photo of stone setting, 4 prongs")
    serial = create_product(world)["serial"]
    step = add_step(world, serial, "stone_setting", attachments=[photo["sha256"]])
    assert step["attachments"] == [photo["sha256"]]
    url = f"/api/v1/attachments/{photo['sha256']}"
    for viewer in (BRAND, FACTORY):
        assert world.http.get(url, headers=world.headers(viewer, "reader")).status_code == 200
    for outsider in (BRAND_2, FACTORY_2, SUPPLIER):
        response = world.http.get(url, headers=world.headers(outsider))
        assert response.status_code == 404
    not_uploaded = world.http.post(
        "/api/v1/steps",
        json=step_body(serial, attachments=["cd" * 32]),
        headers=world.headers(FACTORY),
    )
    assert not_uploaded.status_code == 422
    assert not_uploaded.json()["error"]["details"]["field"] == "attachments.0"


def test_lot_certificate_documents_follow_the_lot(world: World) -> None:
    report = _upload(
        world, b"%PDF-1.7 GIA report 2141438171", org=SUPPLIER, media="application/pdf"
    )
    lot = create_lot(
        world,
        certificates=[{"kind": "gia_report", "number": "2141438171", "document": report["sha256"]}],
    )
    url = f"/api/v1/attachments/{report['sha256']}"
    assert world.http.get(url, headers=world.headers(FACTORY)).status_code == 404
    world.http.post(
        f"/api/v1/lots/{lot['id']}/transfer",
        json={"to_organisation": world.organisations[FACTORY].id},
        headers=world.headers(SUPPLIER),
    ).raise_for_status()
    assert world.http.get(url, headers=world.headers(FACTORY)).status_code == 200
    assert world.http.get(url, headers=world.headers(SUPPLIER_2)).status_code == 404
    malformed = world.http.get("/api/v1/attachments/not-a-hash", headers=world.headers(FACTORY))
    assert malformed.status_code == 422


@pytest.fixture
def production_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALLMARK_ENVIRONMENT", "production")
    monkeypatch.setenv("HALLMARK_KEY_PASSPHRASE", "9f!kq-Lw2#pZ-long")


@pytest.mark.usefixtures("production_env")
@pytest.mark.parametrize("key", [None, "", base64.b64encode(b"\0" * 32).decode(), "short", "!!"])
def test_production_refuses_a_missing_or_placeholder_file_key(key: str | None) -> None:
    values = {"_env_file": None} if key is None else {"_env_file": None, "file_key": key}
    with pytest.raises(pydantic.ValidationError, match="HALLMARK_FILE_KEY"):
        Settings(**values)  # type: ignore[arg-type]


@pytest.mark.usefixtures("production_env")
def test_production_accepts_a_real_file_key() -> None:
    key = base64.b64encode(hashlib.sha256(b"real").digest()).decode()
    settings = Settings(file_key=key, _env_file=None)  # type: ignore[arg-type,call-arg]
    assert settings.file_key_bytes == hashlib.sha256(b"real").digest()
    assert key not in repr(settings)


@pytest.mark.parametrize(
    ("data", "declared", "served"),
    [
        (b"<html><script>alert(document.cookie)</script></html>", "text/html", None),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "image/svg+xml", None),
        (b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64, "application/x-msdownload", None),
        (b"<html><script>alert(1)</script></html>", "image/png", None),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "text/html", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "text/html", "image/png"),
    ],
)
def test_downloads_are_attachments_of_a_type_determined_from_their_bytes(
    world: World, data: bytes, declared: str, served: str | None
) -> None:
    meta = _upload(world, data, media=declared)
    download = world.http.get(
        f"/api/v1/attachments/{meta['sha256']}", headers=world.headers(FACTORY)
    )
    assert download.status_code == 200
    assert download.content == data
    assert download.headers["content-type"] == (served or "application/octet-stream")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-disposition"].startswith("attachment")
    assert "sandbox" in download.headers["content-security-policy"]
