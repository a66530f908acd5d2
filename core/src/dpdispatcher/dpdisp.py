"""Entry point of the ``dpdisp`` command (module name kept from the published package)."""

import sys

from dpdispatcher.cli import main as _main


def main() -> None:
    sys.exit(_main())


if __name__ == "__main__":
    main()
