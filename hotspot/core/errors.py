"""The one exception type for bad input, which the CLI turns into one line and exit code 2."""


class HotspotInputError(ValueError):
    """Input the user can fix: a missing file, wrong columns, a bad parameter value.

    The message is a single line that names the file, row or parameter and says what to do.
    Library code raises it; ``cli.py`` prints it without a traceback and exits with code 2.
    """
