"""numbers.tex: a LaTeX macro for every number a paper's text would quote, read from the report's CSV files.

Macro names are letters only (LaTeX allows nothing else): a scope, then the quantity, in camel case.

- Scopes: ``best`` (the best variant), ``baseline``, ``replica`` (when run), and ``variant<Name>`` for every variant,
  where <Name> is the variant's name in camel case with each digit spelled out (:func:`macro_word`:
  ``inverse_frequency`` -> ``InverseFrequency``, ``v2`` -> ``VTwo``).
- Quantities of a scope (table.csv): ``Seeds``; ``Eval<Metric>`` with ``Std``, ``Low``/``High`` (95% t-interval over
  seeds) and ``BootLow``/``BootHigh`` (mean per-run bootstrap interval), for Metric = Accuracy, BalancedAccuracy,
  MacroFOne; ``EvalRecall<Class>``; ``DevAccuracy``, ``DevMacroFOne`` (with ``Std``); ``DevEvalGap``.
- Against the baseline (comparison.csv, main table): ``Delta<Metric>`` and ``<Metric><Test>P`` /
  ``<Metric><Test>PHolm`` for Test = TTest, Wilcoxon, and Permutation (accuracy only).
- Study-wide: ``\\bestVariant``, ``\\baselineVariant``, ``\\replicaVariant`` (names), ``\\referenceAccuracy``
  (literature.csv: the reference notebook's published row), ``\\evalTracks``, ``\\devTracks`` (runs.csv).

Values are formatted as the Markdown shows them (percent with one decimal, signed percentage points, p-values with
three significant digits or "< 0.001", "--" where a value does not exist) and set with siunitx's ``\\num``. Each
macro's line names the CSV file, row and column it came from.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from astgenre.labels import CLASSES
from astgenre.report import formatting as fmt
from astgenre.report.latex import GENERATED, latex_number, latex_text
from astgenre.report.literature import REFERENCE_NOTEBOOK
from astgenre.report.stats import BOOTSTRAP_METRICS, PAIRED_T_TEST, PERMUTATION_TEST, WILCOXON_TEST
from astgenre.report.tables import HEADLINE_METRICS

DIGITS = ("Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine")
TEST_WORDS = {PAIRED_T_TEST: "TTest", WILCOXON_TEST: "Wilcoxon", PERMUTATION_TEST: "Permutation"}
STATISTICS = {"mean": "", "std": "Std", "ci_low": "Low", "ci_high": "High"}
CSV_FILES: tuple[str, ...] = ("table.csv", "comparison.csv", "literature.csv", "runs.csv")
"""The report files numbers.tex is read from."""


@dataclass(frozen=True)
class Macro:
    """One ``\\newcommand``: its name, its value as the Markdown shows it, and where the value came from."""

    name: str
    value: str
    source: str
    """``<file> row <i>: <column>``: the CSV file of the report, its data row (from 0) and column."""
    text: bool = False
    """A name, not a number (escaped, not set with siunitx)."""
    section: str = ""
    """The heading numbers.tex lists it under."""

    def latex(self) -> str:
        value = latex_text(self.value) if self.text else latex_number(self.value)
        return f"\\newcommand{{\\{self.name}}}{{{value}}} % {self.source}"


def macro_word(name: str) -> str:
    """A name as letters only, in camel case: "inverse_frequency" -> "InverseFrequency", "v2" -> "VTwo"."""
    words = []
    for part in "".join(c if c.isalnum() else " " for c in str(name)).split():
        spelled = "".join(DIGITS[int(c)] if c in "0123456789" else c for c in part if c.isascii())
        words.append(spelled[:1].upper() + spelled[1:])
    if not words:
        raise ValueError(f"no letter or digit in {name!r}: cannot make a LaTeX macro name of it")
    return "".join(words)


def paper_macros(report_dir: Path, baseline: str, replica: str) -> list[Macro]:
    """Every macro of numbers.tex, read from the report's CSV files in ``report_dir``."""
    report_dir = Path(report_dir)
    frames = {name: _read(report_dir / name) for name in CSV_FILES}
    table, comparison = frames["table.csv"], frames["comparison.csv"]
    variants = list(table["variant"].astype(str))
    best = int(table.index[table["best"].astype(bool)][0])
    scopes = [("best", best, "The best variant (highest mean development macro-F1)", True)]
    for scope, name, section in (
        ("baseline", baseline, "The baseline variant"),
        ("replica", replica, "The replica of the reference notebook"),
    ):
        if name in variants:
            scopes.append((scope, variants.index(name), section, True))
    scopes += [(f"variant{macro_word(name)}", row, f"Variant {name}", False) for row, name in enumerate(variants)]
    macros = []
    for scope, row, section, alias in scopes:
        group = (
            [Macro(f"{scope}Variant", variants[row], _source("table.csv", row, "variant"), text=True)] if alias else []
        )
        group += _variant_macros(scope, table, row)
        if variants[row] != baseline:
            group += _comparison_macros(scope, comparison, variants[row])
        macros += [replace(macro, section=section) for macro in group]
    macros += [
        replace(macro, section="The study") for macro in _study_macros(frames["literature.csv"], frames["runs.csv"])
    ]
    macros += protocol_macros(report_dir)
    _check_unique(macros)
    return macros


PROTOCOL_FILES: tuple[str, ...] = ("protocols.csv", "artist_effect.csv")
"""The protocol report's tables (astgenre.report.protocols), read when the study ran protocols."""


def protocol_macros(report_dir: Path) -> list[Macro]:
    """The study under each protocol and the artist effect, when the report has them (protocols.csv and
    artist_effect.csv beside the other tables); none otherwise.

    Per protocol and variant (protocols.csv): ``<protocol><Variant>Test<Metric>`` with ``Std``, ``Low``/``High``
    (e.g. ``\\artistFilteredNoneTestAccuracy``). Per variant run under both the official and the artist-filtered
    protocol (artist_effect.csv): ``\\artistEffect<Variant>`` (official minus artist-filtered accuracy on the
    evaluation-split tracks, signed percentage points) with ``Low``/``High`` and ``P``, and ``\\artistEffect``
    for the first such variant.
    """
    report_dir = Path(report_dir)
    if not all((report_dir / name).is_file() for name in PROTOCOL_FILES):
        return []
    table, effect = (_read(report_dir / name) for name in PROTOCOL_FILES)
    macros = []
    for row, values in table.iterrows():
        scope = macro_word(str(values["protocol"]))
        scope = scope[:1].lower() + scope[1:] + macro_word(str(values["variant"]))
        for metric in HEADLINE_METRICS:
            for statistic, suffix in STATISTICS.items():
                column = f"{metric}_{statistic}"
                value = fmt.percent(_number(values[column]))
                name = f"{scope}Test{macro_word(metric)}{suffix}"
                macros.append(Macro(name, value, _source("protocols.csv", row, column), section="Protocols"))
    for row, values in effect.iterrows():
        names = [f"artistEffect{macro_word(str(values['variant']))}"] + (["artistEffect"] if row == 0 else [])
        for name in names:
            for suffix, column, shown in (
                ("", "effect", fmt.signed_points),
                ("Low", "ci_low", fmt.signed_points),
                ("High", "ci_high", fmt.signed_points),
                ("P", "p_value", fmt.p_value),
            ):
                source = _source("artist_effect.csv", row, column)
                macros.append(Macro(f"{name}{suffix}", shown(_number(values[column])), source, section="Protocols"))
    return macros


def numbers_tex(macros: list[Macro]) -> str:
    """The text of numbers.tex: the macros by scope, each with its source."""
    lines = [
        GENERATED,
        "% Needs \\usepackage{siunitx}: numbers are set with \\num, as in the tables. Use them in text mode, e.g.",
        "% \\bestEvalAccuracy\\,\\% (95\\,\\% CI \\bestEvalAccuracyLow--\\bestEvalAccuracyHigh).",
        "% Percent with one decimal, differences in signed percentage points, p-values with three significant",
        "% digits; -- where a value does not exist (one seed: no std or interval; a test not run).",
        "% Each line names the report file, row (from 0) and column its value came from. Naming: docs/paper.md.",
    ]
    section = None
    for macro in macros:
        if macro.section != section:
            lines += ["", f"% {macro.section}"]
            section = macro.section
        lines.append(macro.latex())
    if not any(macro.name.startswith("artistEffect") for macro in macros):
        lines += [
            "",
            "% Artist effect (official split against artist-filtered folds): not measured, as the study ran no",
            "% artist-filtered protocol (config protocols.artist_filtered); see report.numbers.protocol_macros.",
        ]
    return "\n".join([*lines, ""])


def write_numbers(report_dir: Path, out: Path, baseline: str, replica: str) -> Path:
    """Write numbers.tex from the report's CSV files; return its path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(numbers_tex(paper_macros(report_dir, baseline, replica)))
    return out


def _variant_macros(scope: str, table: pd.DataFrame, row: int) -> Iterator[Macro]:
    values = table.iloc[row]

    def percent(name: str, column: str) -> Macro:
        return Macro(f"{scope}{name}", fmt.percent(_number(values[column])), _source("table.csv", row, column))

    yield Macro(f"{scope}Seeds", str(int(values["n_seeds"])), _source("table.csv", row, "n_seeds"))
    for metric in HEADLINE_METRICS:
        word = macro_word(metric)
        for statistic, suffix in STATISTICS.items():
            yield percent(f"Eval{word}{suffix}", f"eval_{metric}_{statistic}")
        if metric in BOOTSTRAP_METRICS:
            yield percent(f"Eval{word}BootLow", f"eval_{metric}_boot_low")
            yield percent(f"Eval{word}BootHigh", f"eval_{metric}_boot_high")
    for cls in CLASSES:
        yield percent(f"EvalRecall{macro_word(cls)}", f"eval_recall_{cls}_mean")
    for metric in ("accuracy", "macro_f1"):
        yield percent(f"Dev{macro_word(metric)}", f"dev_{metric}_mean")
        yield percent(f"Dev{macro_word(metric)}Std", f"dev_{metric}_std")
    gap = fmt.signed_points(_number(values["dev_eval_accuracy_gap"]))
    yield Macro(f"{scope}DevEvalGap", gap, _source("table.csv", row, "dev_eval_accuracy_gap"))


def _comparison_macros(scope: str, comparison: pd.DataFrame, variant: str) -> Iterator[Macro]:
    main = comparison[(comparison["variant"].astype(str) == variant) & comparison["seed"].isna()]
    for metric in HEADLINE_METRICS:
        rows = main[main["metric"] == metric]
        if rows.empty:
            continue
        word = macro_word(metric)
        first = int(rows.index[0])
        delta = fmt.signed_points(_number(rows.loc[first, "mean_difference"]))
        yield Macro(f"{scope}Delta{word}", delta, _source("comparison.csv", first, "mean_difference"))
        for index, test in rows["test"].items():
            if test not in TEST_WORDS:
                continue
            for column, suffix in (("p_value", "P"), ("p_holm", "PHolm")):
                value = fmt.p_value(_number(comparison.loc[index, column]))
                name = f"{scope}{word}{TEST_WORDS[test]}{suffix}"
                yield Macro(name, value, _source("comparison.csv", int(index), column))


def _study_macros(literature: pd.DataFrame, runs: pd.DataFrame) -> list[Macro]:
    macros = []
    notebook = literature["venue"].astype(str).str.contains(REFERENCE_NOTEBOOK, regex=False)
    reference = literature.index[notebook & (literature["kind"].astype(str) == "published")]
    if len(reference):
        row = int(reference[0])
        published = f"{round(100 * float(literature.loc[row, 'accuracy']), 4):g}"
        macros.append(Macro("referenceAccuracy", published, _source("literature.csv", row, "accuracy")))
    for split, prefix in (("eval", "eval"), ("dev", "dev")):
        column = f"{prefix}_n_tracks"
        if runs[column].nunique() == 1:
            macros.append(Macro(f"{split}Tracks", str(int(runs.loc[0, column])), _source("runs.csv", 0, column)))
    return macros


def _check_unique(macros: list[Macro]) -> None:
    seen: dict[str, Macro] = {}
    for macro in macros:
        if macro.name in seen:
            raise ValueError(
                f"two values would get the LaTeX macro \\{macro.name}: {seen[macro.name].source} and {macro.source} "
                "(variant names that differ only in punctuation or case; rename one)"
            )
        seen[macro.name] = macro


def _source(file: str, row: int, column: str) -> str:
    return f"{file} row {row}: {column}"


def _number(value: object) -> float:
    return math.nan if pd.isna(value) else float(value)


def _read(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, keep_default_na=False, na_values=[""])  # a variant may be called "NA"
    except FileNotFoundError:
        raise FileNotFoundError(f"report file not found: {path} (numbers.tex is read from the report)") from None
