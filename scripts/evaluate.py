"""Evaluate a checkpoint (default: the shipped model) on FER2013 PublicTest/PrivateTest and the
human VAD rows. `python scripts/evaluate.py --data ../shared/data`; `--help` for every flag."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vadcore.evaluate import main  # noqa: E402

if __name__ == "__main__":
    main()
