"""Paths to the committed real-data samples (see tests/fixtures/make_fixtures.py for provenance)."""
from pathlib import Path
import shutil

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FER_SAMPLE = FIXTURES / "fer2013_sample.csv.gz"
VOTES_SAMPLE = FIXTURES / "ferplus_votes_sample.csv"
AUTHORS_SAMPLE = FIXTURES / "vad_authors_sample.csv"
SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def sample_data_dir(root: Path) -> Path:
    """The committed samples laid out like ../shared/data, for the training CLI."""
    (root / "fer2013").mkdir(parents=True)
    (root / "vad_seed").mkdir()
    shutil.copy(FER_SAMPLE, root / "fer2013" / "fer2013.csv.gz")
    shutil.copy(VOTES_SAMPLE, root / "fer2013" / "fer2013new.csv")
    shutil.copy(AUTHORS_SAMPLE, root / "vad_seed" / "train.csv")
    return root
