"""The one kind of error a researcher sees: a message, never a traceback."""


class StudyError(Exception):
    """Something in the study that its researcher can fix: the message names the file and the fix.

    The command line prints it as one `error:` line on stderr and exits 1.
    """
