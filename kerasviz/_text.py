"""Text on figures: Pillow's own font (`PIL.ImageFont.load_default()`), no font files, no downloads.

Private to `kerasviz.image`: it turns a title into a strip of pixels, word-wrapped to a width,
lines too long for it cut with an ellipsis.
"""

import functools

import numpy as np
from PIL import Image, ImageDraw, ImageFont

MAX_LINES = 3  # a title longer than this is cut, its last line ending in "…"
_MARGIN = 2  # pixels around the text, each side


@functools.lru_cache(maxsize=1)
def font():
    """Pillow's default font (Aileron through FreeType when Pillow has it, else its bitmap font)."""
    return ImageFont.load_default()


def line_height() -> int:
    ascent, descent = font().getmetrics()
    return ascent + descent + 1


def _width(text: str) -> int:
    return int(np.ceil(font().getlength(text)))


def _cut(text: str, width: int) -> str:
    """`text`, shortened with an ellipsis until it fits `width` pixels."""
    if _width(text) <= width:
        return text
    while text and _width(text + "…") > width:
        text = text[:-1]
    return text + "…"


def wrap(text: str, width: int) -> list[str]:
    """Lines of at most `width` pixels: breaks at spaces and at the given newlines, at most `MAX_LINES`."""
    lines = []
    for paragraph in str(text).split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if line and _width(candidate) > width:
                lines.append(line)
                candidate = word
            line = candidate
        lines.append(line)
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES - 1] + [lines[MAX_LINES - 1] + "…"]
    return [_cut(line, width) for line in lines]


def strip(lines: list[str], width: int, rows: int, background: float) -> np.ndarray:
    """float32 `[rows * line_height() + 2 * margin, width]` in [0, 1]: the lines, dark on light or light on dark."""
    height = rows * line_height() + 2 * _MARGIN
    fill = 0 if background >= 0.5 else 255
    picture = Image.new("L", (width, height), int(round(255 * min(max(background, 0.0), 1.0))))
    draw = ImageDraw.Draw(picture)
    for k, line in enumerate(lines):
        draw.text((_MARGIN, _MARGIN + k * line_height()), line, fill=fill, font=font())
    return np.asarray(picture, dtype=np.float32) / 255.0
