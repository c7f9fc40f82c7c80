"""`python -m incept`: the `incept` command where its script is not on PATH."""

from incept.compiler.cli import main

if __name__ == "__main__":
    main(prog_name="incept")
