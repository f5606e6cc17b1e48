"""Errors of the runtime, and how an exception becomes one line for a user."""

from __future__ import annotations


class RuntimeFailure(Exception):
    """An operation failed; the message is what the user (or podman, containerd) reads."""


def describe(exc: BaseException) -> str:
    """One line for an exception: OSErrors raised by `pyrkt.linux` carry the
    call's name in strerror, so the bare "[Errno N]" prefix is dropped."""
    if isinstance(exc, OSError):
        if exc.filename is not None:
            return f"{exc.filename}: {exc.strerror}"
        if exc.strerror:
            return exc.strerror
    text = str(exc)
    return text.splitlines()[0] if text else exc.__class__.__name__
