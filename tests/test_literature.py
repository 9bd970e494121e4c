"""The project's literature file restates the shared survey's numbers, marks secondhand ones, and groups them by
protocol beside the chance and majority-class rows."""

from pathlib import Path

import pandas as pd
import pytest

from astgenre.labels import CLASSES
from astgenre.report import literature

REPO = Path(__file__).resolve().parents[1]
OURS = REPO / "workflow" / "report" / "literature_ismir2004.csv"
SHARED = REPO.parent / "shared" / "literature" / "ismir2004.csv"
EVALUATION_COUNTS = dict(zip(CLASSES, (319, 115, 26, 45, 101, 123), strict=True))
DEVELOPMENT_COUNTS = dict(zip(CLASSES, (320, 114, 26, 45, 102, 122), strict=True))


@pytest.fixture(scope="module")
def shared() -> pd.DataFrame:
    if not SHARED.exists():
        pytest.skip(f"the shared literature survey is not at {SHARED} (it lives in ../shared beside the checkout)")
    return pd.read_csv(SHARED, dtype=str, keep_default_na=False)


def test_every_number_equals_the_shared_surveys(shared):
    ours = literature.read_literature(OURS)
    assert len(ours) == len(shared)
    for (_, row), (_, source) in zip(ours.iterrows(), shared.iterrows(), strict=True):
        assert row["accuracy_percent"] == float(source["accuracy_percent"]), row["method"]
        for column in ("method", "authors", "year", "venue", "metric", "test_split", "source", "verified"):
            assert row[column] == source[column], (row["method"], column)
        assert row["protocol_detail"] == source["protocol"]
        assert row["protocol"] == literature.TEST_SPLIT_PROTOCOL[source["test_split"]]


def test_secondhand_numbers_are_marked(shared):
    ours = literature.read_literature(OURS)
    # Read in another paper than the one that reports the number: "quoted in X", "Author Year, Table N", "secondary".
    cited = ours["source"].str.contains(r"quoted in|\d{4}, Table|secondary", case=False)
    assert cited.sum() == 7
    assert (ours.loc[cited, "verified"] == "secondary").all()
    assert set(ours.loc[shared["verified"] == "secondary", "verified"]) == {"secondary"}
    assert (ours.loc[ours["protocol"] == "unknown", "verified"] != "yes").all()


def test_reference_rows_come_from_the_counts():
    rows = literature.reference_rows("official", EVALUATION_COUNTS)
    chance, majority = rows["accuracy_percent"]
    assert chance == pytest.approx(100 / 6)
    assert majority == pytest.approx(100 * 319 / 729) and "classical" in rows["method"].iloc[1]
    other = literature.reference_rows("literature", {**DEVELOPMENT_COUNTS, "classical": 10})
    assert other["accuracy_percent"].iloc[1] == pytest.approx(100 * 122 / (729 - 310))  # world is the majority now
    with pytest.raises(ValueError, match="unknown classes"):
        literature.reference_rows("official", {"blues": 3})


def test_table_groups_by_protocol():
    table = literature.literature_table(
        literature.read_literature(OURS),
        {"official": EVALUATION_COUNTS, "literature": DEVELOPMENT_COUNTS},
        {"official": "evaluation", "literature": "development"},
    )
    assert tuple(table.columns) == literature.TABLE_COLUMNS
    order = [p for p in literature.PROTOCOLS if p in set(table["protocol"])]
    assert list(dict.fromkeys(table["protocol"])) == order
    official = table[table["protocol"] == "official"]
    assert list(official["kind"]) == ["published", "reference", "reference"]
    assert list(official["accuracy_percent"].iloc[1:]) == pytest.approx([100 * 319 / 729, 100 / 6])
    assert (table.loc[table["kind"] == "reference", "verified"] == literature.COMPUTED).all()
    development = table[(table["protocol"] == "literature") & (table["kind"] == "published")]
    assert list(development["accuracy_percent"]) == sorted(development["accuracy_percent"], reverse=True)
    assert set(table.loc[table["protocol"] == "literature", "test_split"]) == {"development"}


def test_bad_files_are_refused(tmp_path):
    table = pd.read_csv(OURS, dtype=str, keep_default_na=False)
    table.loc[0, "protocol"] = "literature"  # its test split is evaluation
    table.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match="does not follow test_split"):
        literature.read_literature(tmp_path / "bad.csv")
