"""Whether text stays readable on a colour: the WCAG 2.1 contrast ratio of two sRGB colours
(relative luminance, 1:1 to 21:1). The brand colour fills buttons under white text and colours
links on the white page, so the dashboard refuses one below AA (4.5:1) against white. The
formula is WCAG's own, a few lines; no package was worth a dependency for it."""

from __future__ import annotations

import re

AA_NORMAL_TEXT = 4.5
HEX = re.compile(r"#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
WHITE = "#ffffff"
BLACK = "#000000"


def parse_hex(value: str) -> tuple[int, int, int]:
    """'#4f46e5' or '#abc' → (r, g, b); ValueError for anything else."""
    match = HEX.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError("must be a colour like #4f46e5.")
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def luminance(value: str) -> float:
    """WCAG relative luminance: 0 (black) to 1 (white)."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(c) for c in parse_hex(value))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def ratio(first: str, second: str) -> float:
    """The contrast ratio of two colours, 1.0 to 21.0 (order does not matter)."""
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def brand_problem(value: str) -> str:
    """ "" when the colour is readable as the brand colour, else what to do about it."""
    on_white = ratio(value, WHITE)
    if on_white >= AA_NORMAL_TEXT:
        return ""
    return (
        f"is too light to read: white text on it, and it as text on white, have a contrast of "
        f"{on_white:.1f}:1 (black text would have {ratio(value, BLACK):.1f}:1), and WCAG AA "
        f"needs {AA_NORMAL_TEXT}:1. Choose a darker colour."
    )
