"""Train the VAD Lens model. `python scripts/train.py --help` lists every flag (all have defaults).

Examples:
  python scripts/train.py --smoke                       # < 1 min on CPU, checks the whole pipeline
  python scripts/train.py                               # the paper's configuration (GPU)
  python scripts/train.py --stem torchvision --schedule onecycle --lr 0.1 --batch-size 128 --epochs 40
  torchrun --nproc_per_node=4 scripts/train.py --amp    # several GPUs (DistributedDataParallel)
  python scripts/train.py --init-from models/vadlens_resnet18.pt ...   # fine-tune (README, "The model")

Progress (one JSON record per epoch) is logged to stderr at INFO (`VADLENS_LOG_LEVEL`).
"""

import sys

from vadcore.checkpoint import CheckpointError
from vadcore.data import DataFormatError
from vadcore.settings import configure_logging
from vadcore.train import ResumeMismatch, main

if __name__ == "__main__":
    configure_logging()
    try:
        main()
    except (ResumeMismatch, CheckpointError, DataFormatError, FileNotFoundError) as e:
        print(f"train.py: {e}", file=sys.stderr)
        sys.exit(2)
