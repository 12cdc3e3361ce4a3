"""``python -m flowkit``: the flowkit command line."""

from flowkit.cli import main

if __name__ == "__main__":
    main()
