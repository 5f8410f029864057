import sys

from registrator.cli import main

sys.exit(main())
