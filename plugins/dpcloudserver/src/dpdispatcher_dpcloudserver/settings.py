"""Where the DP cloud is and how long to wait for it.

The addresses default to the public Bohrium service and are overridden by the environment
variables dpdispatcher 1.1.0 reads (``DPDISPATCHER_LEBESGUE_*``); the tests point them at the
project's test double. The password may come from :data:`PASSWORD_ENV` instead of the config.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

API_HOST_ENV = "DPDISPATCHER_LEBESGUE_API_HOST"
BUCKET_URL_ENV = "DPDISPATCHER_LEBESGUE_ALI_OSS_BUCKET_URL"
BUCKET_NAME_ENV = "DPDISPATCHER_LEBESGUE_ALI_STS_BUCKET_NAME"
#: the account's password, used when remote_profile has none (keeps it out of machine.json)
PASSWORD_ENV = "DPDISPATCHER_BOHRIUM_PASSWORD"
#: seconds to wait for any one answer of the cloud (default :data:`HTTP_TIME_OUT`)
TIMEOUT_ENV = "DPDISPATCHER_BOHRIUM_TIMEOUT"

DEFAULT_API_HOST = "https://bohrium.dp.tech/"
DEFAULT_BUCKET_URL = "https://dpcloudserver.oss-cn-shenzhen.aliyuncs.com/"
DEFAULT_BUCKET_NAME = "dpcloudserver"
HTTP_TIME_OUT = 30

# The published ``dpdispatcher.dpcloudserver.config`` names (read when this module is imported).
API_HOST = os.environ.get(API_HOST_ENV, DEFAULT_API_HOST)
ALI_OSS_BUCKET_URL = os.environ.get(BUCKET_URL_ENV, DEFAULT_BUCKET_URL)
ALI_STS_BUCKET_NAME = os.environ.get(BUCKET_NAME_ENV, DEFAULT_BUCKET_NAME)


@dataclass(frozen=True)
class Endpoints:
    """The API host, the object storage bucket the job archives go to, and the answer timeout."""

    api_host: str
    bucket_url: str
    bucket_name: str
    timeout: float

    @classmethod
    def from_environment(cls) -> Endpoints:
        raw_timeout = os.environ.get(TIMEOUT_ENV, "")
        try:
            timeout = float(raw_timeout) if raw_timeout else float(HTTP_TIME_OUT)
        except ValueError:
            raise ValueError(f"{TIMEOUT_ENV}={raw_timeout!r} is not a number of seconds") from None
        return cls(
            api_host=_with_slash(os.environ.get(API_HOST_ENV, DEFAULT_API_HOST)),
            bucket_url=_with_slash(os.environ.get(BUCKET_URL_ENV, DEFAULT_BUCKET_URL)),
            bucket_name=os.environ.get(BUCKET_NAME_ENV, DEFAULT_BUCKET_NAME),
            timeout=timeout,
        )


def _with_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"
