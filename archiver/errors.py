"""Errors that map to documented exit codes (see README, "Exit codes")."""

EXIT_OK = 0
EXIT_FAILURE = 1  # the job ran but failed (e.g. the disk filled up)
EXIT_USAGE = 2  # bad command line, manifest or input, unreachable seeds
EXIT_INCOMPLETE = 3  # the audit is under its --fail-under threshold
EXIT_LOCKED = 4  # another run holds this job's lock


class ArchiverError(Exception):
    """Base class; ``exit_code`` is what the CLI returns."""

    exit_code = EXIT_FAILURE


class UsageError(ArchiverError):
    """Bad input from the user: one clear line names the problem."""

    exit_code = EXIT_USAGE


class LockHeldError(ArchiverError):
    """Another live run holds the job's lock."""

    exit_code = EXIT_LOCKED
