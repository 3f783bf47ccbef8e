"""``python -m captum_iterative``: the command line (needed by ``torchrun -m captum_iterative``)."""

from captum_iterative.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
