import sys

from rectui.cli import main

sys.exit(main())
