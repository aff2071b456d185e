from __future__ import annotations

import sys

from nnlint.cli import main

sys.exit(main())
