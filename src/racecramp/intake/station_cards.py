"""Station cards: one printable A4 page per station with its token as text and as a QR code.

A card names the station (label, km, point_id), the race, the address of the station app
and the station's token; the QR code holds the token alone, which the station app's "Scan
the card" reads into its token field. The QR code is drawn as vector squares from segno's
module matrix (sharp at any printer resolution). The PDF holds secrets: it is written
readable by its owner only, and the caller keeps it out of data_dir.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import segno
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from racecramp.durable import atomic_write_bytes

QR_SIZE = 110 * mm  # big enough to scan from a tablet held at arm's length
QR_ERROR = "m"  # 15% of the code may be smudged or folded
MARGIN = 20 * mm
TEXT_FONT = "Helvetica"
TOKEN_FONT = "Courier-Bold"  # fixed width: each character of the token is easy to read off


@dataclass(frozen=True)
class StationCard:
    principal: str
    token: str
    race_id: str
    race_name: str
    race_date: str
    point_id: str
    label: str
    km: float
    entry_url: str


def _fitted(text: str, font: str, size: float, width: float) -> float:
    """The font size (at most `size`) at which `text` fits in `width`."""
    return min(size, size * width / max(stringWidth(text, font, size), 1.0))


def _draw_qr(canvas: Canvas, text: str, left: float, bottom: float, size: float) -> None:
    code = segno.make_qr(text, error=QR_ERROR)
    matrix = code.matrix
    quiet = 4  # modules of white border the standard asks for
    modules = len(matrix) + 2 * quiet
    cell = size / modules
    canvas.setFillColorRGB(0, 0, 0)
    for row, line in enumerate(matrix):
        for col, dark in enumerate(line):
            if dark:
                x = left + (col + quiet) * cell
                y = bottom + size - (row + quiet + 1) * cell
                canvas.rect(x, y, cell, cell, stroke=0, fill=1)


def _draw_card(canvas: Canvas, card: StationCard) -> None:
    width, height = A4
    inner = width - 2 * MARGIN
    y = height - MARGIN
    canvas.setFont(TEXT_FONT, 11)
    canvas.drawString(MARGIN, y - 11, f"racecramp station card · {card.race_name} {card.race_date} ({card.race_id})")
    y -= 40
    size = _fitted(card.label, "Helvetica-Bold", 34, inner)
    canvas.setFont("Helvetica-Bold", size)
    canvas.drawString(MARGIN, y - size, card.label)
    y -= size + 12
    canvas.setFont(TEXT_FONT, 16)
    canvas.drawString(MARGIN, y - 16, f"km {card.km:.1f} · station {card.point_id}")
    y -= 40
    canvas.setFont(TEXT_FONT, 12)
    canvas.drawString(MARGIN, y - 12, "1. On the tablet, open the station app:")
    y -= 20
    url_size = _fitted(card.entry_url, TOKEN_FONT, 14, inner)
    canvas.setFont(TOKEN_FONT, url_size)
    canvas.drawString(MARGIN, y - url_size, card.entry_url)
    y -= url_size + 16
    canvas.setFont(TEXT_FONT, 12)
    canvas.drawString(MARGIN, y - 12, "2. Tap \"Scan card\" and show it this code, or type the token printed under it.")
    y -= 24
    _draw_qr(canvas, card.token, (width - QR_SIZE) / 2, y - QR_SIZE, QR_SIZE)
    y -= QR_SIZE + 10
    token_size = _fitted(card.token, TOKEN_FONT, 20, inner)
    canvas.setFont(TOKEN_FONT, token_size)
    canvas.drawCentredString(width / 2, y - token_size, card.token)
    canvas.setFont(TEXT_FONT, 9)
    canvas.drawString(MARGIN, MARGIN + 14, f"Token of {card.principal}: valid for this station of this race only.")
    canvas.drawString(MARGIN, MARGIN, "Lost card or tablet? Tell medical command at once: the token is revoked and a new card printed.")


def station_cards_pdf(cards: list[StationCard]) -> bytes:
    """The cards as one PDF, a page per card, in the order given."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=1, pageCompression=1)
    canvas.setTitle("racecramp station cards")
    for card in cards:
        _draw_card(canvas, card)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def write_station_cards(path: Path, cards: list[StationCard]) -> Path:
    """Write the cards' PDF to `path` (mode 600: it holds the tokens)."""
    return atomic_write_bytes(Path(path), station_cards_pdf(cards), mode=0o600)
