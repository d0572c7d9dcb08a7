"""Barcode images of a code: QR (PNG, SVG) with ``qrcode``; Code 128 with ``python-barcode``."""

import io

import qrcode
import qrcode.image.svg
from barcode import Code128
from barcode.writer import ImageWriter, SVGWriter


def qr_png(data: str, box_size: int = 8) -> bytes:
    qr = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=4
    )
    qr.add_data(data)
    buffer = io.BytesIO()
    qr.make_image().save(buffer)
    return buffer.getvalue()


def qr_svg(data: str) -> bytes:
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=10)
    return image.to_string()


def code128_png(data: str) -> bytes:
    buffer = io.BytesIO()
    Code128(data, writer=ImageWriter()).write(buffer, options={"write_text": True})
    return buffer.getvalue()


def code128_svg(data: str) -> bytes:
    buffer = io.BytesIO()
    Code128(data, writer=SVGWriter()).write(buffer)
    return buffer.getvalue()


def render(data: str, symbology: str, fmt: str) -> tuple[bytes, str]:
    """The image bytes and content type of ``data`` in ``symbology`` ('qr'|'code128')."""
    if fmt == "svg":
        body = code128_svg(data) if symbology == "code128" else qr_svg(data)
        return body, "image/svg+xml"
    body = code128_png(data) if symbology == "code128" else qr_png(data)
    return body, "image/png"
