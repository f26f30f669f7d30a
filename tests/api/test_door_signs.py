"""GET /customers/{id}/doors/{door_id}/sign: the printable door sign in SVG, PNG and PDF, whose
QR codes decode to the door's Entry and Exit codes."""

from __future__ import annotations

import io
import uuid

import pytest

from entryfy.ops import doors as door_ops
from tests.factories import bearer


@pytest.fixture
def door(session, world):
    d = door_ops.create_door(session, site=world.a.site, name="Grind Ö1")
    session.commit()
    return d


def sign_url(customer, door, q: str = "") -> str:
    return f"/api/v1/customers/{customer.id}/doors/{door.id}/sign{q}"


def test_svg_sign_carries_both_codes_as_qr(client, world, door):
    import segno

    r = client.get(sign_url(world.a.customer, door), headers=bearer(client, world.a.admin))
    assert r.status_code == 200 and r.mimetype == "image/svg+xml"
    assert r.headers["Content-Disposition"] == 'inline; filename="door-sign-grind-o1.svg"'
    svg = r.get_data(as_text=True)
    assert "Grind Ö1" in svg and world.a.site.name in svg
    assert "ENTRY" in svg and "EXIT" in svg
    # The very paths segno draws for each code are in the sign.
    for code in (door.entry_code, door.exit_code):
        path = segno.make(code, error="m", micro=False).svg_inline(scale=1, border=4)
        d = path.split(' d="', 1)[1].split('"', 1)[0]
        assert d in svg
    assert door.entry_code not in svg  # drawn, not printed as text


def test_png_sign_draws_the_codes_modules(client, world, door):
    """Each QR's modules, sampled at their centres, are the matrix segno makes of the code
    (no QR decoder needed: the same matrix is the same code)."""
    import segno
    from PIL import Image

    r = client.get(sign_url(world.a.customer, door, "?format=png"),
                   headers=bearer(client, world.a.admin))
    assert r.status_code == 200 and r.mimetype == "image/png"
    img = Image.open(io.BytesIO(r.get_data())).convert("L")
    assert img.size == (1240, 1754)  # A4 at 150 dpi
    for i, code in enumerate((door.entry_code, door.exit_code)):
        qr = segno.make(code, error="m", micro=False)
        rows = [list(row) for row in qr.matrix_iter(scale=1, border=4)]
        n = len(rows)
        x0, y0, size = (1240 - 620) // 2, 260 + i * 720, 620
        for y, row in enumerate(rows):
            for x, dark in enumerate(row):
                px = img.getpixel((x0 + int((x + 0.5) * size / n), y0 + int((y + 0.5) * size / n)))
                assert (px < 128) == bool(dark), (code, x, y)


def test_pdf_sign_in_swedish(client, world, door):
    r = client.get(sign_url(world.a.customer, door, "?format=pdf"),
                   headers={**bearer(client, world.a.admin), "Accept-Language": "sv"})
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    body = r.get_data()
    assert body.startswith(b"%PDF-") and b"%%EOF" in body[-32:]
    svg = client.get(sign_url(world.a.customer, door, "?lang=sv"),
                     headers=bearer(client, world.a.admin, device_id="d-2-test")).get_data(
        as_text=True)
    assert ">IN<" in svg and ">UT<" in svg


def test_sign_walls(client, world, door):
    admin = bearer(client, world.a.admin)
    other = client.get(sign_url(world.b.customer, door), headers=bearer(
        client, world.b.admin, device_id="b-admin-device"))
    missing = client.get(f"/api/v1/customers/{world.a.customer.id}/doors/{uuid.uuid4()}/sign",
                         headers=admin)
    wrong_tenant = client.get(sign_url(world.a.customer, door).replace(
        str(world.a.customer.id), str(world.b.customer.id)), headers=admin)
    assert other.status_code == 404 and missing.status_code == 404
    assert wrong_tenant.status_code == 404
    worker = client.get(sign_url(world.a.customer, door),
                        headers=bearer(client, world.a.worker, device_id="w-device-1"))
    assert worker.status_code == 403
    assert client.get(sign_url(world.a.customer, door)).status_code == 401
    bad = client.get(sign_url(world.a.customer, door, "?format=gif"), headers=admin)
    assert bad.status_code == 400 and bad.mimetype == "application/problem+json"
