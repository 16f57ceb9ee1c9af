import sys

from taskgate.cli import main

sys.exit(main())
