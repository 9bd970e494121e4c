"""Published ISMIR2004 Genre accuracies, grouped by evaluation protocol, with the chance and majority-class rows.

The project's file ``workflow/report/literature_ismir2004.csv`` restates the facts of the shared survey
(``shared/literature/ismir2004.csv``), one row per published number: the method, its authors, year and venue
(the citation), the accuracy in percent and the metric as published, the protocol normalised to one of
:data:`PROTOCOLS` from the split the number was measured on, the protocol as described, where the number was read
(``source``) and ``verified``: ``yes`` (read in the paper or notebook itself), ``secondary`` (only as cited by
another paper: a secondhand number) or ``number only`` (the number was read, its protocol was not).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from astgenre.labels import CLASSES

COLUMNS: tuple[str, ...] = (
    "method",
    "authors",
    "year",
    "venue",
    "accuracy_percent",
    "metric",
    "protocol",
    "test_split",
    "protocol_detail",
    "source",
    "verified",
)
PROTOCOLS: dict[str, str] = {
    "official": "train on training, test on evaluation (the 2004 contest's split)",
    "literature": "train on training, test on development (most papers after 2005: '729 training / 729 test')",
    "cross-validation": "cross-validation over pooled tracks",
    "unknown": "not stated where the number was read",
}
"""Protocols in table order, with what each means."""
TEST_SPLIT_PROTOCOL: dict[str, str] = {
    "evaluation": "official",
    "development": "literature",
    "cross-validation": "cross-validation",
    "unknown": "unknown",
}
VERIFIED: tuple[str, ...] = ("yes", "secondary", "number only")
COMPUTED = "computed"
"""``verified`` of the chance and majority-class rows: computed from class counts, not read anywhere."""
TABLE_COLUMNS: tuple[str, ...] = ("protocol", "kind", *(c for c in COLUMNS if c != "protocol"))


def read_literature(path: Path) -> pd.DataFrame:
    """The literature file, checked: COLUMNS, accuracy a percentage, protocol consistent with test_split."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if tuple(table.columns) != COLUMNS:
        raise ValueError(f"{path}: columns {list(table.columns)} are not {list(COLUMNS)}")
    table["accuracy_percent"] = pd.to_numeric(table["accuracy_percent"], errors="raise")
    problems = []
    for row in table.itertuples(index=False):
        if not 0 < row.accuracy_percent <= 100:
            problems.append(f"{row.method!r}: accuracy {row.accuracy_percent} is not a percentage")
        if TEST_SPLIT_PROTOCOL.get(row.test_split) != row.protocol:
            problems.append(f"{row.method!r}: protocol {row.protocol!r} does not follow test_split {row.test_split!r}")
        if row.verified not in VERIFIED:
            problems.append(f"{row.method!r}: verified {row.verified!r} is not one of {VERIFIED}")
        if not row.source:
            problems.append(f"{row.method!r}: no source")
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    return table


def reference_rows(protocol: str, test_counts: Mapping[str, int]) -> pd.DataFrame:
    """Chance (a uniform guess among the classes: 1 / len(CLASSES)) and majority-class accuracies on a test split
    with these class counts."""
    unknown = sorted(set(test_counts) - set(CLASSES))
    if unknown:
        raise ValueError(f"unknown classes {unknown} in the test counts; expected {CLASSES}")
    total = sum(test_counts.values())
    if total <= 0:
        raise ValueError("the test counts hold no track")
    majority = max(CLASSES, key=lambda cls: (test_counts.get(cls, 0), -CLASSES.index(cls)))
    counts = "/".join(str(test_counts.get(cls, 0)) for cls in CLASSES)
    common = {"authors": "", "year": "", "venue": "", "metric": "accuracy", "verified": COMPUTED, "kind": "reference"}
    return pd.DataFrame(
        [
            {
                **common,
                "method": f"chance (uniform guess among {len(CLASSES)} classes)",
                "accuracy_percent": 100.0 / len(CLASSES),
                "protocol_detail": PROTOCOLS.get(protocol, protocol),
                "source": "1 / number of classes",
            },
            {
                **common,
                "method": f"majority class ({majority} for every track)",
                "accuracy_percent": 100.0 * test_counts[majority] / total,
                "protocol_detail": PROTOCOLS.get(protocol, protocol),
                "source": f"test split class counts {counts} ({', '.join(CLASSES)})",
            },
        ]
    ).assign(protocol=protocol)


def literature_table(
    literature: pd.DataFrame, test_counts: Mapping[str, Mapping[str, int]], test_splits: Mapping[str, str]
) -> pd.DataFrame:
    """Published rows and, for each protocol in ``test_counts``, its chance and majority-class rows, grouped by
    protocol (PROTOCOLS order, then any other protocol given), published rows by descending accuracy.

    ``test_counts`` maps a protocol to its test split's class counts, ``test_splits`` a protocol to that split's
    name (e.g. {"official": "evaluation", "literature": "development"}). Column ``kind``: published or reference.
    """
    published = literature.assign(kind="published")
    references = [
        reference_rows(protocol, counts).assign(test_split=test_splits.get(protocol, ""))
        for protocol, counts in test_counts.items()
    ]
    table = pd.concat([published, *references], ignore_index=True)
    order = list(PROTOCOLS) + [p for p in test_counts if p not in PROTOCOLS]
    table["protocol"] = pd.Categorical(table["protocol"], categories=order, ordered=True)
    table["kind"] = pd.Categorical(table["kind"], categories=["published", "reference"], ordered=True)
    table = table.sort_values(["protocol", "kind", "accuracy_percent"], ascending=[True, True, False], kind="stable")
    table["protocol"] = table["protocol"].astype(str)
    table["kind"] = table["kind"].astype(str)
    return table[list(TABLE_COLUMNS)].reset_index(drop=True)
