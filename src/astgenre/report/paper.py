"""The paper bundle, results/<study>/paper/: the figures, tables and quoted numbers of a paper, from one command.

The report rule draws the paper versions of its figures and writes its tables in LaTeX into ``report/paper/``
(:func:`paper_files`); :func:`build_paper` copies them into the bundle and adds ``numbers.tex`` (numbers.py), read
from the report's CSV files, and ``preview.tex``, a two-column document that inputs all of it.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from astgenre.report.latex import GENERATED, LATEX_PACKAGES, latex_text
from astgenre.report.numbers import write_numbers
from astgenre.report.style import FIGURE_FORMATS

PAPER_DIR = "paper"
"""The folder inside the report folder where the report rule writes the paper versions."""
PAPER_FIGURES: tuple[str, ...] = (
    "roc",
    "confusion",
    "confusion_normalized",
    "recall_by_variant",
    "forest",
    "training_curves",
    "calibration",
    "variants",
)
"""Figures drawn for print too (the names of their screen PNGs in the report)."""
PAPER_TABLES: tuple[str, ...] = ("variants", "recall", "comparison", "mcnemar", "literature", "data", "replica")
"""LaTeX tables (tables/<name>.tex, label tab:<name>): table.md's two, comparison.md's two, literature.md's, and
summary.md's data and replica tables."""
DEFAULT_FORMATS: tuple[str, ...] = ("png", "pdf")
"""Formats of the paper figures unless config `report.formats` says otherwise."""
NUMBERS_FILE = "numbers.tex"
PREVIEW_FILE = "preview.tex"
_PREVIEW_GRAPHICS = ("pdf", "png")
"""Formats pdflatex includes, in order of preference (an SVG needs a converter)."""


def check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    """The figure formats, checked: each one of FIGURE_FORMATS, at least one, none twice."""
    formats = tuple(str(f) for f in formats)
    unknown = sorted(set(formats) - set(FIGURE_FORMATS))
    if unknown or not formats or len(set(formats)) != len(formats):
        raise ValueError(
            f"report formats {list(formats)}: give each of {list(FIGURE_FORMATS)} at most once, at least one"
        )
    return formats


def paper_files(formats: Sequence[str]) -> dict[str, str]:
    """Output name -> path inside a paper folder: ``figures/<figure>.<format>`` and ``tables/<table>.tex``.

    The report rule writes these into ``report/paper/``, the paper rule copies them into the bundle.
    """
    files = {
        f"figure_{name}_{fmt}": f"figures/{name}.{fmt}" for name in PAPER_FIGURES for fmt in check_formats(formats)
    }
    files.update({f"table_{name}": f"tables/{name}.tex" for name in PAPER_TABLES})
    return files


def bundle_files(formats: Sequence[str]) -> dict[str, str]:
    """Output name -> path inside results/<study>/paper/: paper_files, numbers.tex and preview.tex."""
    return {**paper_files(formats), "numbers": NUMBERS_FILE, "preview": PREVIEW_FILE}


def build_paper(
    report_dir: Path,
    out_dir: Path,
    formats: Sequence[str],
    baseline: str,
    replica: str,
    captions: Mapping[str, str] | None = None,
) -> list[Path]:
    """Assemble the bundle in ``out_dir`` from the report in ``report_dir``; return the paths written.

    captions: figure name -> caption text (reStructuredText of workflow/report/<figure>.rst) for preview.tex.
    """
    report_dir, out_dir = Path(report_dir), Path(out_dir)
    written = []
    for relative in paper_files(formats).values():
        source, target = report_dir / PAPER_DIR / relative, out_dir / relative
        if not source.is_file():
            raise FileNotFoundError(f"{source} not found: the report rule writes it (snakemake report)")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        written.append(target)
    written.append(write_numbers(report_dir, out_dir / NUMBERS_FILE, baseline, replica))
    (out_dir / PREVIEW_FILE).write_text(preview_tex(formats, captions or {}))
    written.append(out_dir / PREVIEW_FILE)
    return written


def preview_tex(formats: Sequence[str], captions: Mapping[str, str]) -> str:
    """A two-column document (letter paper, 7 in text width, 3.33 in columns) that inputs numbers.tex, every table
    and every figure at its own size: compile it in the bundle with ``pdflatex preview.tex``."""
    graphics = next((fmt for fmt in _PREVIEW_GRAPHICS if fmt in formats), None)
    lines = [
        GENERATED,
        "% A preview of the bundle and an example of its use: compile with `pdflatex preview.tex` in this folder.",
        r"\documentclass[10pt,twocolumn]{article}",
        r"\usepackage[letterpaper,margin=0.75in,columnsep=0.33in]{geometry}",
        r"\usepackage{graphicx}",
        rf"\usepackage{{{','.join(LATEX_PACKAGES)}}}",
        r"\input{numbers}",
        r"\providecommand{\referenceAccuracy}{--}\providecommand{\evalTracks}{--}",
        r"\newsavebox{\paperfigurebox}",
        "% A figure at its own size, over both columns when it is wider than one: #1 file, #2 label, #3 caption.",
        r"\newcommand{\paperfigure}[3]{\sbox{\paperfigurebox}{\includegraphics{#1}}%",
        r"  \ifdim\wd\paperfigurebox>\columnwidth",
        r"    \begin{figure*}[tbp]\centering\usebox{\paperfigurebox}\caption{#3}\label{#2}\end{figure*}%",
        r"  \else",
        r"    \begin{figure}[tbp]\centering\usebox{\paperfigurebox}\caption{#3}\label{#2}\end{figure}%",
        r"  \fi}",
        r"\begin{document}",
        r"\section*{Quoted numbers}",
        r"The best variant, \bestVariant{}, reached an evaluation accuracy of \bestEvalAccuracy\,\% "
        r"($\pm$\,\bestEvalAccuracyStd; 95\,\% t-interval over \bestSeeds{} seeds "
        r"\bestEvalAccuracyLow--\bestEvalAccuracyHigh\,\%; bootstrap interval over \evalTracks{} tracks "
        r"\bestEvalAccuracyBootLow--\bestEvalAccuracyBootHigh\,\%) and a macro-F1 of \bestEvalMacroFOne\,\%. "
        r"The reference notebook reported \referenceAccuracy\,\% on the development split.",
        "",
        *[rf"\input{{tables/{name}}}" for name in PAPER_TABLES],
    ]
    if graphics is None:
        lines.append(
            f"% No figure: pdflatex includes {' or '.join(_PREVIEW_GRAPHICS)}, the formats were {list(formats)}."
        )
    else:
        for name in PAPER_FIGURES:
            caption = rst_to_latex(captions.get(name, name.replace("_", " ")))
            lines.append(rf"\paperfigure{{figures/{name}.{graphics}}}{{fig:{name}}}{{{caption}}}")
    lines += [r"\end{document}", ""]
    return "\n".join(lines)


def rst_to_latex(text: str) -> str:
    """A caption written in reStructuredText (``code``, **bold**, *emphasis*) as LaTeX text."""
    pieces = re.split(r"(``[^`]+``|\*\*[^*]+\*\*|\*[^*]+\*)", " ".join(str(text).split()))
    out = []
    for piece in pieces:
        if piece.startswith("``"):
            out.append(rf"\texttt{{{latex_text(piece[2:-2])}}}")
        elif piece.startswith("**"):
            out.append(rf"\textbf{{{latex_text(piece[2:-2])}}}")
        elif piece.startswith("*") and len(piece) > 2:
            out.append(rf"\emph{{{latex_text(piece[1:-1])}}}")
        else:
            out.append(latex_text(piece))
    return "".join(out)
