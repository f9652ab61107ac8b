import sys

from batch_training.cli.main import main

sys.exit(main())
