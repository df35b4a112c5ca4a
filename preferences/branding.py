"""The tenant's brand on public pages: its colour, with text colours computed so that every pairing on the page stays
readable (WCAG AA)."""

import re
from dataclasses import dataclass

from preferences.models import BrandSettings

HEX_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")
DEFAULT_BRAND_COLOUR = "#1F6FEB"
WHITE, BLACK = (255, 255, 255), (0, 0, 0)
NEAR_BLACK = (17, 24, 39)
AA_TEXT_CONTRAST = 4.5

RGB = tuple[int, int, int]


def _parse_hex(colour: str) -> RGB:
    digits = colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(digit * 2 for digit in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def _hex(rgb: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _luminance(rgb: RGB) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(value) for value in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: RGB, b: RGB) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def text_colour_on(background: RGB) -> RGB:
    """White or near-black, whichever reads better on the background; when neither reaches AA, white or pure black
    (one of which always reaches 4.58:1 on any colour)."""
    best = max((WHITE, NEAR_BLACK), key=lambda text: contrast_ratio(background, text))
    if contrast_ratio(background, best) >= AA_TEXT_CONTRAST:
        return best
    return max((WHITE, BLACK), key=lambda text: contrast_ratio(background, text))


def readable_on_white(colour: RGB) -> RGB:
    """The colour, darkened just enough to be used for links, switches and focus rings on a white page."""
    shade = colour
    step = 0
    while contrast_ratio(shade, WHITE) < AA_TEXT_CONTRAST and step < 20:
        step += 1
        shade = tuple(round(channel * (1 - step * 0.05)) for channel in colour)  # type: ignore[assignment]
    return shade


@dataclass(frozen=True)
class Brand:
    name: str
    logo_url: str
    support_email: str
    primary: str
    on_primary: str
    accent: str
    on_accent: str

    @classmethod
    def current(cls) -> "Brand":
        settings_row = BrandSettings.current()
        colour = settings_row.brand_primary_color.strip()
        primary = _parse_hex(colour if HEX_COLOUR.match(colour) else DEFAULT_BRAND_COLOUR)
        accent = readable_on_white(primary)
        logo_url = (
            settings_row.brand_logo_url if settings_row.brand_logo_url.startswith(("https://", "http://")) else ""
        )
        return cls(
            name=settings_row.name,
            logo_url=logo_url,
            support_email=settings_row.support_email,
            primary=_hex(primary),
            on_primary=_hex(text_colour_on(primary)),
            accent=_hex(accent),
            on_accent=_hex(text_colour_on(accent)),
        )
