"""How the report's figures look: one drawing function per figure, drawn with a :class:`Profile`.

:data:`SCREEN` draws the PNGs of the HTML report (seaborn's notebook look, titles on the figure). :data:`PAPER` draws
the same figures for print: a single column (:data:`COLUMN_WIDTH`) or the full text width (:data:`FULL_WIDTH`), text
at 8-9 pt at that size, no figure title (the paper's caption says it), TrueType fonts embedded in PDFs, and
:data:`PAPER_PALETTE`, whose colours stay distinct for colour-blind readers and in greyscale.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib as mpl
import numpy as np
import seaborn as sns
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

COLUMN_WIDTH = 3.3
"""Inches: one column of a two-column paper (IEEE, ACM, ISMIR: 3.3-3.5 in)."""
FULL_WIDTH = 7.0
"""Inches: the full text width of a two-column paper (figure* / table*)."""
FIGURE_FORMATS: tuple[str, ...] = ("png", "pdf", "svg")
"""The formats the paper figures can be written in (config `report.formats`)."""

PAPER_PALETTE: tuple[str, ...] = ("#004488", "#EECC66", "#994455", "#6699CC", "#997700", "#EE99AA")
"""Paul Tol's medium-contrast scheme (https://personal.sron.nl/~pault/#sec:qualitative), made for colour-blind
readers and greyscale printing: three dark and three light colours, CIE L* 29, 83, 41, 62, 52, 72 in this order, so
that every two colours differ by at least 10 in lightness and neighbours (as bars stand side by side) by 20 or more.
A seventh variant repeats the colours; its hatch (:data:`PAPER_HATCHES`) and its position still tell it apart."""
PAPER_HATCHES: tuple[str, ...] = ("", "////", "....", "\\\\\\\\", "xxx", "oo", "++", "--")
"""Hatches of the variants' bars in print, in variant order: bars never depend on colour alone."""
PAPER_INK = "#004488"
"""One dark colour for figures whose colour carries no category (one curve per panel)."""

_PAPER_RC = {
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.title_fontsize": 8,
    "figure.titlesize": 9,
    "axes.linewidth": 0.6,
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.0,
    "lines.markersize": 4,
    "patch.linewidth": 0.5,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.major.size": 3,
    "ytick.major.size": 3,
    "xtick.major.pad": 2,
    "ytick.major.pad": 2,
    "axes.labelpad": 2,
    "legend.borderaxespad": 0.3,
    "legend.handletextpad": 0.5,
}


@dataclass(frozen=True)
class Profile:
    """How to draw a figure: its size, fonts, colours and whether it carries its own title.

    Figure functions take the sizes for both profiles and pick theirs with :meth:`size`; everything else they read
    from here, so that one function draws the screen and the print version.
    """

    name: str
    context: str
    rc: dict = field(default_factory=dict)
    font_scale: float = 1.0
    dpi: int = 150
    titles: bool = True
    """Figure titles (suptitles) on the figure; in print the caption says it."""
    scale: float = 1.0
    """Marker sizes and line widths set by the figure functions, relative to the screen."""
    small: str | float = "small"
    large: str | float = "x-large"
    palette: tuple[str, ...] | None = None
    """Variant colours; None: seaborn's colorblind palette."""
    hatches: tuple[str, ...] | None = None
    """Variant hatches on bars; None: plain bars."""
    ink: str | None = None
    """One colour for every class curve; None: one colour per class."""
    seed_colours_end: float = 1.0
    """Seeds are coloured along viridis from 0 to this (below 1: the lightest yellow is not used)."""
    accents: tuple[str, str] | None = None
    """Two colours of different lightness (calibration: accuracy bars, gap to confidence); None: seaborn's."""
    interval_colour: str | None = None
    """Colour of the forest plot's intervals and open circles; None: the variant's colour."""
    opaque: bool = False
    """Bars without transparency (transparency makes light colours vanish on paper)."""

    @property
    def paper(self) -> bool:
        return self.name == "paper"

    def size(self, screen: tuple[float, float], paper: tuple[float, float]) -> tuple[float, float]:
        """The figure size in inches of this profile."""
        return paper if self.paper else screen

    def pt(self, value: float) -> float:
        """A marker size or line width set for the screen, scaled to this profile."""
        return value * self.scale


SCREEN = Profile(name="screen", context="notebook", font_scale=0.85)
PAPER = Profile(
    name="paper",
    context="paper",
    rc=_PAPER_RC,
    dpi=300,
    titles=False,
    scale=0.6,
    small=8,
    large=9,
    palette=PAPER_PALETTE,
    hatches=PAPER_HATCHES,
    ink=PAPER_INK,
    seed_colours_end=0.8,
    accents=(PAPER_PALETTE[0], PAPER_PALETTE[5]),
    interval_colour="0.2",
    opaque=True,
)


@contextmanager
def style(profile: Profile) -> Iterator[None]:
    """The profile's matplotlib settings and a fixed seed for numpy's global generator, for the drawing only."""
    rc = {
        **sns.axes_style("whitegrid"),
        **sns.plotting_context(profile.context, font_scale=profile.font_scale),
        **profile.rc,
        "savefig.dpi": profile.dpi,
        "pdf.fonttype": 42,  # TrueType, embedded: no Type 3 fonts
        "ps.fonttype": 42,
        "svg.fonttype": "path",  # text as outlines: the SVG needs no font installed
    }
    state = np.random.get_state()
    np.random.seed(0)  # seaborn jitters dots with numpy's global generator: the same data give the same figure
    try:
        with mpl.rc_context(rc):
            yield
    finally:
        np.random.set_state(state)


def save(fig: Figure, paths: Path | Sequence[Path], profile: Profile) -> Figure:
    """Write fig to each path, in the format its suffix names; return it, so that tests can read what was drawn.

    PDF and SVG carry no creation date, so that the same data give the same bytes.
    """
    subsetter = logging.getLogger("fontTools")  # logs every table of every font it subsets into a PDF, at INFO
    level = subsetter.level
    subsetter.setLevel(max(level, logging.WARNING))
    try:
        for path in [paths] if isinstance(paths, (str, Path)) else paths:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            metadata = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}.get(path.suffix.lstrip("."))
            fig.savefig(path, dpi=profile.dpi, facecolor="white", metadata=metadata)
    finally:
        subsetter.setLevel(level)
    return fig


def variant_palette(variants: Sequence[str], profile: Profile) -> dict[str, tuple]:
    """One colour per variant, the same in every figure of a profile."""
    if profile.palette is None:
        return dict(zip(variants, sns.color_palette("colorblind", len(variants)), strict=False))
    return {variant: to_rgb(profile.palette[i % len(profile.palette)]) for i, variant in enumerate(variants)}


def variant_hatches(variants: Sequence[str], profile: Profile) -> dict[str, str]:
    """One hatch per variant (empty strings where the profile has none)."""
    hatches = profile.hatches or ("",)
    return {variant: hatches[i % len(hatches)] for i, variant in enumerate(variants)}


def seed_palette(seeds: Sequence[int], profile: Profile) -> dict[int, tuple]:
    """One colour per seed along viridis (lightness rises with the seed's rank: readable in greyscale)."""
    if profile.seed_colours_end >= 1:
        return dict(zip(seeds, sns.color_palette("viridis", len(seeds)), strict=True))
    positions = np.linspace(0, profile.seed_colours_end, len(seeds)) if len(seeds) > 1 else [0.0]
    return {seed: to_rgb(mpl.colormaps["viridis"](x)) for seed, x in zip(seeds, positions, strict=True)}
