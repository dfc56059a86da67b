"""The project's exception hierarchy.

Two families, as the reconciler treats them differently:

* ``TemporaryError``: the world may fix itself (a server is down, a push raced
  another writer). Retried with backoff, and by the next reconcile.
* ``PermanentError``: the input is wrong (a bad config key, a hostile model
  name, a broken template). Reported with what to fix; retried only once the
  input changes.

Adapters wrap third-party exceptions once, with ``raise ... from exc``, so a
caller never needs to know about requests, GitPython or SQLAlchemy errors. An
error that is not marked permanent counts as temporary: the daemon retries it
with backoff, and a release that failed with it is tried again next time.
"""

from __future__ import annotations

from typing import Literal


class WatcherError(Exception):
    """Base of every error this project raises on purpose."""

    #: A hint for the user: what to change so the error goes away.
    hint: str = ""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        if hint:
            self.hint = hint

    def __str__(self) -> str:
        message = super().__str__()
        return f"{message} ({self.hint})" if self.hint else message


class TemporaryError(WatcherError):
    """Worth retrying later: the same input may succeed."""


class PermanentError(WatcherError):
    """Retrying is pointless until the input changes."""


class ConfigError(PermanentError):
    """The configuration file or environment is invalid."""


class InvalidNameError(PermanentError):
    """A model name, alias, stage or path that cannot be used safely."""


class InvalidOverrideError(PermanentError):
    """A model-version tag such as ``deploy.replicas`` holds an unusable value."""


class TemplateError(PermanentError):
    """A template failed to render, or rendered something that is not valid Kubernetes."""


class ManifestValidationError(TemplateError):
    """A rendered manifest does not match the Kubernetes schema."""


class RegistryError(WatcherError):
    """Reading the model registry failed."""


class RegistryUnavailableError(RegistryError, TemporaryError):
    """The registry could not be reached or answered with a server error."""


class RegistryAuthError(RegistryError, PermanentError):
    """The registry refused our credentials."""


class GitError(WatcherError):
    """A git operation failed."""


class GitUnavailableError(GitError, TemporaryError):
    """The git remote could not be reached, or a push kept losing races."""


class PushRejectedError(GitUnavailableError):
    """The remote branch moved since our fetch; re-plan on the new head and push again."""


class GitAuthError(GitError, PermanentError):
    """The git remote refused our credentials or host key."""


class ForgeError(WatcherError):
    """A forge's API (GitHub, GitLab, Gitea) failed a pull request call."""


class ForgeUnavailableError(ForgeError, TemporaryError):
    """The forge could not be reached, or answered with a server error or a rate limit."""


class ForgeAuthError(ForgeError, PermanentError):
    """The forge refused the token (missing, invalid, or without the scopes it needs)."""


class ForgeRefusedError(ForgeError, PermanentError):
    """The forge refused a request it understood: a wrong repository or URL, a protected
    or conflicting branch, a merge it will not make."""


class UnsafeDeletionError(PermanentError):
    """A reconcile would delete more deployments than the safety limit allows."""


class OwnershipError(PermanentError):
    """A target folder exists in git but was not written by gitops-watcher."""


class StateStoreError(TemporaryError):
    """The daemon's own state database failed."""


class ArtifactError(WatcherError):
    """Copying a model version's files to the artifact store failed."""


class ArtifactSourceError(ArtifactError, PermanentError):
    """A version's files cannot be read from where its source points (scheme, path, policy)."""


class ArtifactUnavailableError(ArtifactError, TemporaryError):
    """The artifact store or the source could not be reached, or a transfer broke off."""


class ArtifactUncheckedError(ArtifactUnavailableError):
    """The store could not be asked whether a copy is complete: it may well be.

    A release whose folder already deploys that copy stays deployed as it is.
    """


class ArtifactAuthError(ArtifactError, PermanentError):
    """The artifact store or the source refused our credentials."""


class ArtifactStoreConfigError(ArtifactError, PermanentError):
    """The artifact store is misconfigured: a missing bucket, a bad endpoint or region."""


class ArtifactConflictError(ArtifactError, PermanentError):
    """The copy location holds another release's copy (two sources share one prefix)."""


class ArtifactVerificationError(ArtifactError, TemporaryError):
    """A copied object does not match the source (size or checksum); it is copied again."""


class InternalError(PermanentError):
    """An unexpected exception while handling one release: a bug, confined to that release."""

    hint = "this is a bug in gitops-watcher; please report it with the log (-vv)"


class SourceUnavailableError(TemporaryError):
    """Every configured source failed to read: nothing can be planned."""


# -- what an error means, decided once for every entry point --------------------------------

#: Exit codes scripts can trust, the same for every entry point (the CLI, ``python -m
#: watcher.daemon``, the pod-side ``python -m watcher.fetch``).
EXIT_OK = 0
#: Some releases failed (a bad tag, spec or template; a copy or a source), the rest applied.
EXIT_PARTIAL = 1
#: The configuration or the command line is wrong, or another writer holds the state.
EXIT_CONFIG = 2
#: The run could not complete: a registry, git, S3 or the database unreachable or refusing us.
EXIT_UNAVAILABLE = 3
#: An unexpected exception escaped: a bug.
EXIT_CRASH = 4
EXIT_INTERRUPTED = 130

ErrorKind = Literal["permanent", "temporary", "unexpected"]


class WriterHeldError(PermanentError):
    """Another process is the writer for this state: running a second one would race it."""


def error_kind(error: BaseException) -> ErrorKind:
    """Permanent errors wait for their input to change; temporary ones are retried with
    backoff; anything that is not a ``WatcherError`` is unexpected (a bug)."""
    if isinstance(error, PermanentError):
        return "permanent"
    if isinstance(error, WatcherError):
        return "temporary"
    return "unexpected"


def exit_code(error: BaseException) -> int:
    """The one table from an exception that ends a command to its exit code."""
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, ConfigError | WriterHeldError):
        return EXIT_CONFIG
    if isinstance(error, WatcherError):
        return EXIT_UNAVAILABLE
    return EXIT_CRASH


def error_label(error: BaseException) -> str:
    """How a command names an error on standard error, by its exit code."""
    code = exit_code(error)
    if code == EXIT_CONFIG:
        return "configuration error"
    if code == EXIT_CRASH:
        return "internal error"
    return "error"
