"""``python -m cinerec`` runs the command-line interface."""

from cinerec.cli import main

if __name__ == "__main__":
    main()
