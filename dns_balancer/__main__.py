import sys

from dns_balancer.cli import main

sys.exit(main())
