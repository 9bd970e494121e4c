"""The offline demo corpus: a small synthetic archive shaped exactly like the ISMIR2004 Genre archive.

Only the demo preset uses it: :mod:`~astgenre.demo.layout` plans the tracks and tracklists in the real layout,
:mod:`~astgenre.demo.sounds` synthesises each class (and each artist's sound), :mod:`~astgenre.demo.archive`
writes the zip.
"""

from astgenre.demo.archive import generate_corpus
from astgenre.demo.layout import DELIBERATE_MISMATCH, FOLDERS, class_counts

__all__ = ["DELIBERATE_MISMATCH", "FOLDERS", "class_counts", "generate_corpus"]
