"""``python -m memae``, as ``torchrun -m memae train ...`` starts each rank."""

import sys

from .cli import main

sys.exit(main())
