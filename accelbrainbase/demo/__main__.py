"""``python -m accelbrainbase.demo``."""
import sys

from . import main

__all__: list = []

if __name__ == "__main__":
    sys.exit(main())
