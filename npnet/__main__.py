"""``python -m npnet COMMAND``: the ``npnet`` console script (``npnet --help``)."""
import sys

from npnet.cli import main

sys.exit(main())
