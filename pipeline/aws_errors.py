"""AWS error codes from botocore exceptions, without importing botocore (pure; the forwarder uses it)."""

from __future__ import annotations

# The codes AWS answers when a caller goes too fast (Kinesis, CloudWatch, KMS): back off, retry.
THROTTLE_CODES = frozenset(("ProvisionedThroughputExceededException", "LimitExceededException",
                            "ThrottlingException", "Throttling", "KMSThrottlingException"))


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError (None for other exceptions)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None
