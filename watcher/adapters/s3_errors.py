"""Translate boto3/botocore failures into this project's errors, once, with a fix to try."""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
    SSLError,
)

from watcher.errors import (
    ArtifactAuthError,
    ArtifactError,
    ArtifactStoreConfigError,
    ArtifactUnavailableError,
)

_AUTH_CODES = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "403",
    "Forbidden",
}
_MISSING_BUCKET_CODES = {"NoSuchBucket"}
_CREDENTIALS_HINT = (
    "check the AWS credentials the daemon runs with (AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the pod's role) and that they may use this bucket"
)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def translate_s3_error(exc: BaseException, doing: str) -> ArtifactError:
    """``doing`` says what we tried, e.g. "uploading s3://bucket/key"."""
    if isinstance(exc, ArtifactError):
        return exc
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return ArtifactAuthError(
            f"{doing}: no usable AWS credentials found", hint=_CREDENTIALS_HINT
        )
    if isinstance(exc, SSLError):
        return ArtifactStoreConfigError(
            f"{doing}: TLS verification failed",
            hint="set artifacts.s3.ca_bundle (or AWS_CA_BUNDLE) to the endpoint's CA",
        )
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ConnectionClosedError):
        return ArtifactUnavailableError(
            f"{doing}: cannot reach the S3 endpoint ({type(exc).__name__})",
            hint="check artifacts.s3.endpoint_url (MLFLOW_S3_ENDPOINT_URL) and that it is up",
        )
    if isinstance(exc, ReadTimeoutError):
        return ArtifactUnavailableError(f"{doing}: the S3 endpoint timed out")
    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _AUTH_CODES or status == 403:
            return ArtifactAuthError(
                f"{doing}: the S3 store refused our credentials ({code or status})",
                hint=_CREDENTIALS_HINT,
            )
        if code in _MISSING_BUCKET_CODES:
            return ArtifactStoreConfigError(
                f"{doing}: the bucket does not exist",
                hint="create it, or set artifacts.s3.create_bucket: true",
            )
        if code in (
            "PermanentRedirect",
            "AuthorizationHeaderMalformed",
            "IllegalLocationConstraintException",
        ):
            return ArtifactStoreConfigError(
                f"{doing}: the bucket is in another region ({code})",
                hint="set artifacts.s3.region (or AWS_DEFAULT_REGION) to the bucket's region",
            )
        return ArtifactUnavailableError(f"{doing}: the S3 store answered {code or status}")
    if isinstance(exc, BotoCoreError | OSError):
        return ArtifactUnavailableError(f"{doing}: {type(exc).__name__}: {exc}")
    return ArtifactUnavailableError(f"{doing}: unexpected {type(exc).__name__}: {exc}")
