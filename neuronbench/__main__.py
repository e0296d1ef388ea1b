import sys

from neuronbench.cli import main

sys.exit(main())
