"""``python -m vaelearn ...`` is the ``vaelearn`` command."""

from vaelearn.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
