import sys

from mimi.cli import main

sys.exit(main())
