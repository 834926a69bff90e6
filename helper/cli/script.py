"""Running a script so that bad input ends in one clear line and a non-zero exit, not a traceback."""
import sys

import argparse

from helper.core.errors import EXIT_USER_ERROR, USER_ERRORS, UsageError


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors (an invalid choice, a missing flag) are one line naming the valid
    values, like the project's other errors, instead of the whole usage text."""

    def error(self, message):
        raise UsageError(f"{message} (see {self.prog} --help)")


def script_parser(doc):
    """The parser of a top-level script, its docstring as the help text."""
    return ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def run_main(main, argv=None):
    try:
        main(argv)
    except USER_ERRORS as err:
        message = str(err).strip()
        print(f"error: {message}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:
        print("interrupted; the last completed epoch's checkpoint is kept (resume with --resume)",
              file=sys.stderr)
        sys.exit(130)
