"""Station cards (`racecramp tokens --cards`): one printed page per station, whose QR code reads
back as that station's token (rendered with PDFium, read with ZXing, as a tablet camera would)."""

from __future__ import annotations

import pypdfium2 as pdfium
import zxingcpp
from typer.testing import CliRunner

from racecramp.cli import app
from racecramp.intake.tokens import read_token_file

from paths import DATA

ENTRY_URL = "https://medical.race.example/station/"
# Boston 2017 (data/course/boston.csv): aid stations at miles 2 to 25 and the finish medical tents
BOSTON_STATIONS = 24 + 1


def test_station_cards_have_one_page_per_station_and_their_qr_codes_decode_to_the_tokens(settings, tmp_path):
    cards, out = tmp_path / "cards.pdf", tmp_path / "tokens.toml"
    result = CliRunner().invoke(app, ["tokens", "--race", str(DATA / "races" / "boston-2017.toml"), "--out", str(out),
                                      "--cards", str(cards), "--entry-url", ENTRY_URL])
    assert result.exit_code == 0, result.output
    assert cards.stat().st_mode & 0o777 == 0o600
    tokens = read_token_file(out)
    station_of = {token: principal.split(":")[2] for principal, token in tokens.items() if principal.startswith("station:")}
    pdf = pdfium.PdfDocument(cards)
    assert len(pdf) == len(station_of) == BOSTON_STATIONS
    shown = []
    for page in pdf:
        (code,) = zxingcpp.read_barcodes(page.render(scale=2).to_pil())
        assert code.format == zxingcpp.BarcodeFormat.QRCode
        text = page.get_textpage().get_text_range()
        point_id = station_of[code.text]
        shown.append(point_id)
        assert code.text in text, "the token is printed under its code"
        assert f"station {point_id}" in text and ENTRY_URL in text and "Boston Marathon 2017-04-17 (boston-2017)" in text
    assert sorted(shown) == sorted(station_of.values())
    assert shown[:2] == ["aid-02mi", "aid-03mi"] and shown[-1] == "med-finish"  # in course order
    page = pdf[shown.index("aid-20mi")].get_textpage().get_text_range()
    assert "Aid mile 20" in page and "km 32.2" in page
