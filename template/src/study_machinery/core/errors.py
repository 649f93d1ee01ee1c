"""The one kind of error a researcher sees: a message, never a traceback."""


class StudyError(Exception):
    """Something in the study that its researcher can fix: the message names the file and the fix.

    The command line prints it as one `error:` line on stderr and exits 1.
    """


def first_line(error: BaseException) -> str:
    """The first line of an error's message (its type's name when it has none)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
