"""The paper bundle: vector figures at column or full width, LaTeX tables that say what the Markdown says,
numbers.tex macros equal to the CSV values they came from, and a preview document that compiles."""

from __future__ import annotations

import itertools
import math
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.text import Text
from PIL import Image
from test_report import LITERATURE, REPO, STRENGTH, write_index_summary, write_runs

from astgenre.config import ConfigError, read_study
from astgenre.report import PAPER_DIR, build_report, figures
from astgenre.report.formatting import Table
from astgenre.report.latex import latex_cell, latex_table
from astgenre.report.numbers import macro_word
from astgenre.report.paper import (
    DEFAULT_FORMATS,
    NUMBERS_FILE,
    PAPER_FIGURES,
    PAPER_TABLES,
    PREVIEW_FILE,
    build_paper,
    bundle_files,
)
from astgenre.report.stats import PERMUTATION_TEST
from astgenre.report.style import COLUMN_WIDTH, FULL_WIDTH, PAPER, PAPER_HATCHES, PAPER_PALETTE, SCREEN

VARIANTS = ["none", "inverse_frequency", "reference_replica"]
HOSTILE = "w_x&y%z#1 {a}^~"
"""A variant name with every character LaTeX treats specially that a file name may hold."""
PAPER_WIDTHS = {
    "roc": FULL_WIDTH,
    "confusion": FULL_WIDTH,
    "confusion_normalized": FULL_WIDTH,
    "recall_by_variant": FULL_WIDTH,
    "forest": COLUMN_WIDTH,
    "training_curves": FULL_WIDTH,
    "calibration": COLUMN_WIDTH,
    "variants": FULL_WIDTH,
}
"""The width of each paper figure in inches, as docs/paper.md states it."""
CAPTIONS = {name: (REPO / "workflow" / "report" / f"{name}.rst").read_text() for name in PAPER_FIGURES}
PDFLATEX = shutil.which("pdflatex")
needs_pdflatex = pytest.mark.skipif(
    PDFLATEX is None,
    reason="pdflatex not found: install texlive-latex-recommended and texlive-science (as .ci/run does as root)",
)


def _build(root: Path, variants: list[str], seeds: list[int], formats: tuple[str, ...], n_tracks: int) -> Path:
    runs = write_runs(root, variants, seeds, n_tracks=n_tracks)
    report = root / "report"
    index = write_index_summary(root / "index_summary.json")
    build_report(runs, index, report, LITERATURE, n_boot=100, formats=formats)
    build_paper(report, root / "paper", formats, "none", "reference_replica", CAPTIONS)
    return root


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """Three variants x three seeds; figures in every format."""
    return _build(tmp_path_factory.mktemp("paper"), VARIANTS, [0, 1, 2], ("png", "pdf", "svg"), 60)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    """One seed each of the baseline and a variant whose name LaTeX must escape everywhere."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(STRENGTH, HOSTILE, 2.0)
        return _build(tmp_path_factory.mktemp("hostile"), ["none", HOSTILE], [0], ("pdf",), 40)


# ---------------------------------------------------------------- reading LaTeX back (independently of latex.py)

_LATEX_SYMBOLS = {
    r"\allowbreak{}": "",
    r"\ensuremath{\pm}": "±",
    r"\ensuremath{-}": "−",
    r"\ensuremath{\Delta}": "Δ",
    r"\ensuremath{\dagger}": "†",
    r"\ensuremath{\times}": "×",
    r"\textless{}": "<",
    r"\textgreater{}": ">",
    r"\textbackslash{}": "\\",
    r"\textasciitilde{}": "~",
    r"\textasciicircum{}": "^",
    r"\textbar{}": "|",
    "---": "—",
    "-{}-": "--",
    "--": "–",
    "''": '"',
    "``": '"',
}


def plain(latex: str) -> str:
    """What a LaTeX cell or macro prints, spelled as the Markdown spells it."""
    text = re.sub(r"\\begin\{tabular\}\[[tb]\]\{@\{\}[lr]@\{\}\}(.*?)\\end\{tabular\}", r"\1", latex)
    text = text.replace(r"\\{}", " ")
    text = re.sub(r"\\num(?:\[retain-explicit-plus\])?\{([^{}]*)\}", r"\1", text)
    text = re.sub(r"\\textbf\{(.*?)\}(?= |$)", r"**\1**", text)
    for latex_symbol, symbol in _LATEX_SYMBOLS.items():
        text = text.replace(latex_symbol, symbol)
    text = re.sub(r"\\([_&%#${}])", r"\1", text)
    return text.removeprefix("{}")


def latex_rows(path: Path) -> list[list[str]]:
    """The body rows of a generated table, cells split at unescaped &."""
    lines = path.read_text().splitlines()
    body = lines[lines.index(r"\midrule") + 1 : lines.index(r"\bottomrule")]
    rows = []
    for line in body:
        assert line.endswith(r" \\"), line
        rows.append([cell.strip() for cell in re.split(r"(?<!\\)&", line[: -len(r" \\")])])
    return rows


def markdown_tables(path: Path) -> list[list[list[str]]]:
    """Every Markdown table of a file: its body rows, cells split at unescaped pipes."""
    tables, current = [], None
    for line in path.read_text().splitlines():
        if line.startswith("|"):
            cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            if current is None:
                current = []
                tables.append(current)
            if not line.startswith("|---"):
                current.append(cells)
        else:
            current = None
    return [table[1:] for table in tables]  # without the header row


def markdown_sources(replica_run: bool) -> dict[str, tuple[str, int | None]]:
    """Table -> (Markdown file, index of the table in it); None where the Markdown has no such table."""
    return {
        "variants": ("table.md", 0),
        "recall": ("table.md", 1),
        "comparison": ("comparison.md", 0),
        "mcnemar": ("comparison.md", 1),
        "literature": ("literature.md", 0),
        "replica": ("summary.md", 0 if replica_run else None),
        "data": ("summary.md", 1 if replica_run else 0),
    }


# ---------------------------------------------------------------- tables


@pytest.mark.parametrize("fixture", ["study", "hostile"])
def test_every_latex_cell_says_what_the_markdown_cell_says(fixture, request):
    root = request.getfixturevalue(fixture)
    report = root / "report"
    checked = 0
    sources = markdown_sources(replica_run="reference_replica" in set(pd.read_csv(report / "table.csv")["variant"]))
    for name in PAPER_TABLES:
        file, index = sources[name]
        markdown = markdown_tables(report / file)
        latex = latex_rows(root / "paper" / "tables" / f"{name}.tex")
        if index is None:  # a table the Markdown leaves out says why
            assert len(latex) == 1 and r"\multicolumn" in latex[0][0], name
            continue
        assert len(latex) == len(markdown[index]) > 0, name
        for latex_row, markdown_row in zip(latex, markdown[index], strict=True):
            assert [plain(cell) for cell in latex_row] == markdown_row, name
            checked += 1
    assert checked >= (20 if fixture == "study" else 8)


def test_hostile_names_are_escaped_in_tables_and_numbers(hostile):
    variants = (hostile / "paper" / "tables" / "variants.tex").read_text()
    assert r"w\_x\&y\%z\#1 \{a\}\textasciicircum{}\textasciitilde{}" in variants
    assert HOSTILE not in variants
    numbers = (hostile / "paper" / NUMBERS_FILE).read_text()
    assert r"\newcommand{\variantWXYZOneAEvalAccuracy}" in numbers
    assert macro_word(HOSTILE) == "WXYZOneA" and macro_word("inverse_frequency") == "InverseFrequency"


def test_latex_table_layout_and_marks():
    """booktabs rules, caption and label, the best variant bold, numbers through siunitx, marks kept."""
    cells = [
        ["**best_one** (best)", "97.0 ± 4.0 [61.0, 100.0 (clipped)]†", "+1.3", "< 0.001 (Holm 0.0123); 3 / 5"],
        ["other", "–", "-0.4", "too few seeds"],
    ]
    table = Table("demo", "A caption with 95% and a_b. More.", ("Variant", "Accuracy", "Δ (pp)", "p"), cells, "lnnn")
    text = latex_table(table)
    assert r"\caption[{A caption with 95\% and a\_b}]{A caption with 95\% and a\_b. More.}" in text
    assert r"\label{tab:demo}" in text and r"\begin{table*}" in text
    assert [line for line in text.splitlines() if line in (r"\toprule", r"\midrule", r"\bottomrule")] == [
        r"\toprule",
        r"\midrule",
        r"\bottomrule",
    ]
    rows = latex_rows_from_text(text)
    assert rows[0][0] == r"\textbf{best\_one} (best)"
    assert r"\num{97.0} \ensuremath{\pm} \num{4.0}" in rows[0][1] and r"\ensuremath{\dagger}" in rows[0][1]
    assert rows[0][2] == r"\num[retain-explicit-plus]{+1.3}" and rows[1][2] == r"\num{-0.4}"
    assert rows[1][1] == "--"
    for latex_row, markdown_row in zip(rows, cells, strict=True):
        assert [plain(cell) for cell in latex_row] == markdown_row
    assert latex_cell("[1.0, 2.0]", "n").startswith("{}[")  # never read as \\[<length>]
    assert latex_cell('cells say "too few seeds"', "l") == "cells say ``too few seeds''"


def latex_rows_from_text(text: str) -> list[list[str]]:
    lines = text.splitlines()
    body = lines[lines.index(r"\midrule") + 1 : lines.index(r"\bottomrule")]
    return [[c.strip() for c in re.split(r"(?<!\\)&", line.removesuffix(r" \\"))] for line in body]


# ---------------------------------------------------------------- numbers.tex


def _percent(value: float) -> str:
    return "–" if math.isnan(value) else f"{100 * value:.1f}"


def _expected(file: str, column: str, value) -> str:
    """How the Markdown shows a CSV value, written here independently of formatting.py."""
    if column == "variant":
        return str(value)
    if column in ("n_seeds", "eval_n_tracks", "dev_n_tracks"):
        return str(int(value))
    if file == "literature.csv":
        return f"{round(100 * float(value), 4):g}"
    value = float(value)
    if column in ("p_value", "p_holm"):
        return "–" if math.isnan(value) else ("< 0.001" if value < 0.001 else f"{value:.3g}")
    if column in ("mean_difference", "dev_eval_accuracy_gap"):
        return "–" if math.isnan(value) else f"{100 * value:+.1f}"
    assert re.search(r"_(mean|std|ci_low|ci_high|boot_low|boot_high)$", column), column
    return _percent(value)


MACRO = re.compile(r"^\\newcommand\{\\([A-Za-z]+)\}\{(.*)\} % (\w+\.csv) row (\d+): (\w+)$")


def read_numbers(bundle: Path) -> dict[str, tuple[str, str, int, str]]:
    """numbers.tex as macro -> (printed value, file, row, column); every \\newcommand line must parse."""
    macros = {}
    for line in (bundle / NUMBERS_FILE).read_text().splitlines():
        if line.startswith(r"\newcommand"):
            match = MACRO.match(line)
            assert match, line
            name, value, file, row, column = match.groups()
            assert name not in macros, name
            macros[name] = (plain(value), file, int(row), column)
    return macros


@pytest.mark.parametrize("fixture", ["study", "hostile"])
def test_every_macro_equals_the_csv_value_it_came_from(fixture, request):
    root = request.getfixturevalue(fixture)
    macros = read_numbers(root / "paper")
    frames = {file: pd.read_csv(root / "report" / file) for file in {m[1] for m in macros.values()}}
    for name, (value, file, row, column) in macros.items():
        assert value == _expected(file, column, frames[file].loc[row, column]), (name, file, row, column)
    assert len(macros) > (200 if fixture == "study" else 80)


def test_the_macros_a_paper_quotes_point_at_the_right_rows(study):
    macros = read_numbers(study / "paper")
    table = pd.read_csv(study / "report" / "table.csv")
    comparison = pd.read_csv(study / "report" / "comparison.csv")
    best = int(table.index[table["best"]][0])
    replica = VARIANTS.index("reference_replica")
    assert macros["bestVariant"][0] == table.loc[best, "variant"]
    assert macros["bestEvalAccuracy"][1:] == ("table.csv", best, "eval_accuracy_mean")
    assert macros["bestEvalAccuracyLow"][1:] == ("table.csv", best, "eval_accuracy_ci_low")
    assert macros["bestEvalAccuracyHigh"][1:] == ("table.csv", best, "eval_accuracy_ci_high")
    assert macros["replicaDevAccuracy"][1:] == ("table.csv", replica, "dev_accuracy_mean")
    assert macros["replicaEvalAccuracy"][1:] == ("table.csv", replica, "eval_accuracy_mean")
    assert macros["referenceAccuracy"][0] == "86.15"
    _, _, row, column = macros["variantInverseFrequencyAccuracyPermutationPHolm"]
    assert column == "p_holm" and comparison.loc[row, "test"] == PERMUTATION_TEST
    assert (comparison.loc[row, "variant"], comparison.loc[row, "metric"]) == ("inverse_frequency", "accuracy")
    assert not any(name.startswith("baselineDelta") for name in macros)  # the baseline is not tested against itself
    assert macros["evalTracks"][0] == "60"
    text = (study / "paper" / NUMBERS_FILE).read_text()
    assert "Artist effect" in text and "artistEffect" not in text.replace("% ", "")  # no invented number


# ---------------------------------------------------------------- figures


def _pdf(path: Path) -> bytes:
    data = path.read_bytes()
    assert data.startswith(b"%PDF"), path
    return data


def _page_size(data: bytes) -> tuple[float, float]:
    boxes = re.findall(rb"/MediaBox \[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    assert len(boxes) == 1
    return float(boxes[0][0]), float(boxes[0][1])


def test_paper_pdfs_are_vector_at_their_width_with_fonts_embedded(study):
    for name in PAPER_FIGURES:
        data = _pdf(study / "paper" / "figures" / f"{name}.pdf")
        assert b"/Subtype /Image" not in data, f"{name}.pdf holds a raster image"
        width, _ = _page_size(data)
        assert width == pytest.approx(72 * PAPER_WIDTHS[name], abs=0.01), name
        assert b"/Type3" not in data, f"{name}.pdf has a Type 3 font"
        descriptors = re.findall(rb"<<[^<>]*/Type /FontDescriptor[^<>]*>>", data)
        assert descriptors and all(b"/FontFile2" in d for d in descriptors), f"{name}.pdf: a font is not embedded"


@pytest.mark.skipif(shutil.which("pdffonts") is None, reason="pdffonts not found (Debian: poppler-utils)")
def test_pdffonts_finds_every_font_embedded(study):
    for name in PAPER_FIGURES:
        lines = subprocess.run(
            ["pdffonts", str(study / "paper" / "figures" / f"{name}.pdf")], capture_output=True, text=True, check=True
        ).stdout.splitlines()[2:]
        assert lines, name
        assert all(line.split()[-5] == "yes" for line in lines), lines  # the emb column
        assert all("TrueType" in line for line in lines), lines


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm not found (Debian: poppler-utils)")
def test_paper_pdfs_render_at_their_page_size(study, tmp_path):
    """pdftoppm draws each PDF: at 72 dpi one pixel per point, ink on the page, the variants' colours in the bars."""
    for name in PAPER_FIGURES:
        pdf = study / "paper" / "figures" / f"{name}.pdf"
        subprocess.run(["pdftoppm", "-r", "72", "-png", "-singlefile", str(pdf), str(tmp_path / name)], check=True)
        with Image.open(tmp_path / f"{name}.png") as image:
            width, height = _page_size(_pdf(pdf))
            assert image.size == pytest.approx((width, height), abs=1), name  # pdftoppm rounds up
            grey = np.asarray(image.convert("L"))
            assert (grey < 128).mean() > 0.005, f"{name}: almost nothing drawn"
    with Image.open(tmp_path / "recall_by_variant.png") as image:
        pixels = {tuple(p) for p in np.asarray(image.convert("RGB")).reshape(-1, 3).astype(int).tolist()}
    palette = [tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in PAPER_PALETTE[: len(VARIANTS)]]
    assert all(any(max(abs(a - b) for a, b in zip(p, q, strict=True)) <= 2 for q in pixels) for p in palette)


def test_paper_pngs_and_svgs(study):
    for name in PAPER_FIGURES:
        width, height = _page_size(_pdf(study / "paper" / "figures" / f"{name}.pdf"))
        with Image.open(study / "paper" / "figures" / f"{name}.png") as image:
            assert image.size == (round(300 * width / 72), round(300 * height / 72)), name  # 300 dpi
        svg = (study / "paper" / "figures" / f"{name}.svg").read_text()
        assert f'width="{width:g}pt"' in svg and f'height="{height:g}pt"' in svg, name
        assert "<image" not in svg and "<text" not in svg, f"{name}.svg: raster or text that needs a font"


@pytest.fixture(scope="module")
def paper_figures(study, tmp_path_factory) -> dict[str, matplotlib.figure.Figure]:
    """Each paper figure drawn again from the report's tables, as a Figure, with its PDF."""
    from astgenre.report.runs import PATH_COLUMNS, load_runs

    out = tmp_path_factory.mktemp("drawn")
    runs = pd.read_csv(study / "report" / "runs.csv")
    table = pd.read_csv(study / "report" / "table.csv")
    files = {
        name: [
            study / "runs" / v / f"seed{s}" / f"{name}.{'json' if name.startswith(('metrics', 'train')) else 'tsv'}"
            for v, s in zip(runs["variant"], runs["seed"], strict=True)
        ]
        for name in PATH_COLUMNS
    }
    loaded = load_runs(pd.DataFrame({"variant": runs["variant"], "seed": runs["seed"], **files}))
    evaluation = loaded.predictions[loaded.predictions["split"] == "evaluation"]
    best = evaluation[evaluation["variant"] == "none"]
    variants = tuple(VARIANTS)
    draw = {
        "roc": lambda p, profile: figures.roc_figure(best, "none", p, profile),
        "confusion": lambda p, profile: figures.confusion_figure(evaluation, variants, p, False, profile),
        "confusion_normalized": lambda p, profile: figures.confusion_figure(evaluation, variants, p, True, profile),
        "recall_by_variant": lambda p, profile: figures.recall_figure(runs, variants, p, profile),
        "forest": lambda p, profile: figures.forest_figure(table, 0.8615, p, profile),
        "training_curves": lambda p, profile: figures.training_curves_figure(
            loaded.history, loaded.training, variants, p, profile
        ),
        "calibration": lambda p, profile: figures.calibration_figure(best, "none", p, profile),
        "variants": lambda p, profile: figures.variants_figure(runs, variants, p, profile),
    }
    return {name: (fn(out / f"{name}.pdf", PAPER), out / f"{name}.pdf", fn) for name, fn in draw.items()}


def test_page_size_is_the_declared_figure_size(paper_figures):
    for name, (fig, pdf, _) in paper_figures.items():
        width, height = fig.get_size_inches()
        assert _page_size(_pdf(pdf)) == pytest.approx((72 * width, 72 * height), abs=0.01), name
        assert width == PAPER_WIDTHS[name], name


def test_paper_text_is_8_to_9_points_on_the_page_and_no_figure_title(paper_figures):
    for name, (fig, _, _) in paper_figures.items():
        texts = [
            t
            for t in fig.findobj(Text)
            if t.get_visible() and t.get_text().strip() and (t.axes is None or t.axes.get_visible())
        ]
        assert texts, name
        sizes = {round(t.get_fontsize(), 2) for t in texts}
        assert min(sizes) >= 8 and max(sizes) <= 9, (name, sorted(sizes))
        assert not fig.get_suptitle(), name  # in print the caption says it
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        drawn = fig.get_tightbbox(canvas.get_renderer())  # inches: everything drawn, labels and legends included
        width, height = fig.get_size_inches()
        assert drawn.x0 >= -0.01 and drawn.y0 >= -0.01, (name, drawn.bounds)  # nothing cut off at the page's edge
        assert drawn.x1 <= width + 0.01 and drawn.y1 <= height + 0.01, (name, drawn.bounds)


def test_screen_figures_keep_their_size_and_titles(paper_figures, tmp_path):
    for name in ("forest", "recall_by_variant"):
        fig = paper_figures[name][2](tmp_path / f"{name}.png", SCREEN)
        paper = paper_figures[name][0]
        assert fig.get_size_inches()[0] == (8.0 if name == "forest" else 4.0 + 6 * (0.5 + 0.25 * 3))
        assert fig.axes[0].get_title() and not paper.axes[0].get_title()


def test_paper_bars_carry_a_hatch_per_variant(paper_figures):
    ax = paper_figures["recall_by_variant"][0].axes[0]
    hatches = [{bar.get_hatch() or "" for bar in container} for container in ax.containers]
    assert hatches == [{h} for h in PAPER_HATCHES[: len(VARIANTS)]]
    legend = ax.get_legend()
    assert [p.get_hatch() or "" for p in legend.get_patches()] == list(PAPER_HATCHES[: len(VARIANTS)])


# Machado, Oliveira & Fernandes (2009), severity 1: linear-RGB simulation of the three dichromacies.
DICHROMACY = {
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]],
}


def _linear(colour: str) -> np.ndarray:
    srgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def _lab(linear: np.ndarray) -> np.ndarray:
    srgb_to_xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = srgb_to_xyz @ np.clip(linear, 0, 1)
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_the_paper_palette_survives_greyscale_and_colour_blindness():
    # greyscale as a printer (or PIL's convert("L")) makes it: every two colours at least 20 of 255 apart
    greys = [Image.new("RGB", (1, 1), colour).convert("L").getpixel((0, 0)) for colour in PAPER_PALETTE]
    assert min(abs(a - b) for a, b in itertools.combinations(greys, 2)) >= 20
    assert min(abs(a - b) for a, b in itertools.pairwise(greys)) >= 25  # neighbours (bars side by side) more
    # each dichromacy: every two simulated colours at least 20 CIELAB units apart (clearly distinguishable)
    for matrix in DICHROMACY.values():
        labs = [_lab(np.array(matrix) @ _linear(colour)) for colour in PAPER_PALETTE]
        assert min(np.linalg.norm(a - b) for a, b in itertools.combinations(labs, 2)) >= 20


# ---------------------------------------------------------------- the bundle and its preview


def test_the_bundle_holds_exactly_its_files(study, hostile):
    for root, formats in ((study, ("png", "pdf", "svg")), (hostile, ("pdf",))):
        found = sorted(str(p.relative_to(root / "paper")) for p in (root / "paper").rglob("*") if p.is_file())
        assert found == sorted(bundle_files(formats).values())
        for relative in bundle_files(formats).values():
            source = root / "report" / PAPER_DIR / relative
            if source.exists():  # copied from the report, byte for byte
                assert (root / "paper" / relative).read_bytes() == source.read_bytes()


def _pdflatex(folder: Path) -> str:
    proc = subprocess.run(
        [PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", PREVIEW_FILE],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = (folder / PREVIEW_FILE).with_suffix(".log").read_text(errors="replace")
    assert proc.returncode == 0, log[-3000:]
    return log


@needs_pdflatex
@pytest.mark.parametrize("fixture", ["study", "hostile"])
def test_the_preview_compiles_with_every_table_and_figure_fitting(fixture, request, tmp_path):
    """pdflatex on a two-column document (3.33 in columns, 7 in text) that inputs numbers.tex, every table and every
    figure at its own size: no error, nothing wider than its column or the page, every font embedded."""
    folder = tmp_path / "paper"
    shutil.copytree(request.getfixturevalue(fixture) / "paper", folder)
    log = _pdflatex(folder)
    assert "Overfull \\hbox" not in log, re.findall(r"Overfull \\hbox.*", log)
    assert "Undefined control sequence" not in log and "LaTeX Error" not in log
    for name in PAPER_TABLES:
        assert f"tables/{name}.tex" in log
    for name in PAPER_FIGURES:
        assert f"figures/{name}.pdf" in log
    pdf = _pdf(folder / "preview.pdf")
    assert b"/Type3" not in pdf
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(folder / "preview.pdf"), "-"], capture_output=True, text=True).stdout
        numbers = read_numbers(folder)
        assert f"reached an evaluation accuracy of {numbers['bestEvalAccuracy'][0]} %" in " ".join(text.split())


def test_formats_are_checked_and_default_to_the_config(tmp_path):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    assert tuple(config["report"]["formats"]) == DEFAULT_FORMATS
    for formats in (["gif"], [], ["pdf", "pdf"]):
        with pytest.raises(ConfigError, match="report.formats"):
            read_study(REPO, overlays=[{"report": {"formats": formats}}])
    assert read_study(REPO, overlays=[{"report": {"formats": ["svg"]}}])["report"] == {"formats": ["svg"]}
    with pytest.raises(ValueError, match="gif"):
        bundle_files(["pdf", "gif"])


class _Named(dict):
    """Attribute and key access, like Snakemake's input/output/params objects."""

    __getattr__ = dict.__getitem__


def test_workflow_script_builds_the_bundle(study, tmp_path):
    import runpy
    from types import SimpleNamespace

    from astgenre.report.numbers import CSV_FILES

    formats = ["png", "pdf", "svg"]
    out = tmp_path / "paper"
    snakemake = SimpleNamespace(
        input=_Named(
            tables=[str(study / "report" / name) for name in CSV_FILES],
            captions=[str(REPO / "workflow" / "report" / f"{name}.rst") for name in PAPER_FIGURES],
        ),
        output=_Named({name: str(out / relative) for name, relative in bundle_files(formats).items()}),
        params=_Named(formats=formats, baseline="none", replica="reference_replica"),
        log=[str(tmp_path / "paper.log")],
    )
    runpy.run_path(str(REPO / "workflow" / "scripts" / "paper.py"), init_globals={"snakemake": snakemake})
    for relative in bundle_files(formats).values():
        assert (out / relative).read_bytes() == (study / "paper" / relative).read_bytes(), relative
    assert "paper bundle: " in (tmp_path / "paper.log").read_text()


def test_protocol_macros_equal_the_protocol_reports_values(study, tmp_path):
    """With protocols.csv and artist_effect.csv beside the report's tables, numbers.tex quotes them: every protocol
    macro's value is the CSV value shown as the Markdown shows it."""
    import shutil

    from test_protocol_report import predictions

    from astgenre.labels import CLASSES
    from astgenre.report.numbers import paper_macros, protocol_macros
    from astgenre.report.protocols import (
        ProtocolRun,
        artist_effect,
        protocol_table,
        read_test_predictions,
        seed_scores,
    )

    report = tmp_path / "report"
    shutil.copytree(study / "report", report)
    rng = np.random.default_rng(0)
    labels = np.asarray(CLASSES)[np.arange(30) % len(CLASSES)]
    ids = [f"eva{i:03d}" for i in range(30)]
    runs = []
    for seed in (0, 1, 2):
        for protocol, accuracy in (("official", 0.9), ("artist_filtered", 0.6)):
            path = tmp_path / f"{protocol}{seed}.tsv"
            predictions(ids, "evaluation", labels, accuracy, rng).to_csv(path, sep="\t", index=False)
            runs.append(ProtocolRun(protocol, 0, "none", seed, path))
    tests = read_test_predictions(runs)
    protocol_table(seed_scores(tests)).to_csv(report / "protocols.csv", index=False)
    effect = artist_effect(tests)
    effect.to_csv(report / "artist_effect.csv", index=False)
    macros = {m.name: m for m in protocol_macros(report)}
    assert macros["artistEffect"].value == f"{100 * effect.loc[0, 'effect']:+.1f}"
    assert macros["artistEffectNone"].value == macros["artistEffect"].value
    assert macros["artistEffectLow"].value == f"{100 * effect.loc[0, 'ci_low']:+.1f}"
    p = effect.loc[0, "p_value"]
    assert macros["artistEffectP"].value == ("< 0.001" if p < 0.001 else f"{p:.3g}")
    table = pd.read_csv(report / "protocols.csv")
    row = table.index[table["protocol"] == "artist_filtered"][0]
    assert macros["artistFilteredNoneTestAccuracy"].value == _percent(table.loc[row, "accuracy_mean"])
    assert macros["artistFilteredNoneTestAccuracy"].source == f"protocols.csv row {row}: accuracy_mean"
    assert {m.name for m in protocol_macros(report)} <= {m.name for m in paper_macros(report, "none", "x")}
