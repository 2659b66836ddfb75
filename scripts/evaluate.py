"""Evaluate a checkpoint (default: the configured one, `VADLENS_CHECKPOINT`, else the shipped model) on
FER2013 PublicTest/PrivateTest and the human VAD rows; prints the Markdown report and writes it with the
JSON and confusion matrices to --out. `python scripts/evaluate.py`; `--help` for every flag."""

from vadcore.evaluate import main
from vadcore.evaluation_report import markdown_report
from vadcore.settings import configure_logging

if __name__ == "__main__":
    configure_logging()
    print(markdown_report(main()))
