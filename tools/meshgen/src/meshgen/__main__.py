"""`python -m meshgen`: see meshgen.cli."""

import sys

from meshgen.cli import main

if __name__ == "__main__":
    sys.exit(main())
