import sys

from w2s.cli import main

sys.exit(main())
