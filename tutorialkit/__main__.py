"""``python -m tutorialkit``: runs the command line of :mod:`tutorialkit.cli` (``train
ner``, ``train classify``, ``predict``).

Example: ``python -m tutorialkit --help``.
"""

import sys

from tutorialkit.cli import main

if __name__ == "__main__":
    sys.exit(main())
