import sys

from consul_templates.cli import main

sys.exit(main())
