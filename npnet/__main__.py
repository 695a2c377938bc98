"""``python -m npnet demo``."""
import sys

from npnet.cli import main

sys.exit(main())
