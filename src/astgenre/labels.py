"""The class and split vocabulary of the ISMIR2004 Genre dataset."""

CLASSES: tuple[str, ...] = (
    "classical",
    "electronic",
    "jazz_blues",
    "metal_punk",
    "rock_pop",
    "world",
)
"""The six classes, in the order used for label ids and probability columns."""

SPLITS: tuple[str, ...] = ("training", "development", "evaluation")

LABEL2ID: dict[str, int] = {name: i for i, name in enumerate(CLASSES)}
ID2LABEL: dict[int, str] = dict(enumerate(CLASSES))

TRAINING_COUNTS: dict[str, int] = {
    "classical": 320,
    "electronic": 115,
    "jazz_blues": 26,
    "metal_punk": 45,
    "rock_pop": 101,
    "world": 122,
}
"""Tracks per class in the 729-track training split of the real dataset (development and evaluation differ by a track
or two)."""
