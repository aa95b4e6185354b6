import sys

from orders_app.cli import main

sys.exit(main())
