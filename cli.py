"""Run archspec from a checkout: `python cli.py build specs/resnext50.yaml --summary`."""

from archspec.cli import main

if __name__ == "__main__":
    main()
