"""Putting and getting the job archives in the cloud's object storage (Alibaba OSS), with plain HTTP.

The API hands out temporary credentials (``GET /data/get_sts_token``: ``AccessKeyId``,
``AccessKeySecret``, ``SecurityToken``); each request is signed with them as OSS's
header signature (version 1) prescribes::

    Authorization: OSS <AccessKeyId>:base64(hmac-sha1(AccessKeySecret,
        VERB \\n Content-MD5 \\n Content-Type \\n Date \\n x-oss-security-token:<token> \\n /<bucket>/<key>))

A single PUT carries an archive of up to 5 GB, which is far more than a job's inputs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import urllib.parse
from dataclasses import dataclass
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

from dpdispatcher_dpcloudserver.errors import CloudError

if TYPE_CHECKING:
    from dpdispatcher_dpcloudserver.transport import CloudSession

STS_PATH = "/data/get_sts_token"
ZIP_TYPE = "application/zip"


@dataclass(frozen=True)
class StsToken:
    access_key_id: str
    access_key_secret: str
    security_token: str

    @classmethod
    def from_answer(cls, data: Any) -> StsToken:
        try:
            return cls(str(data["AccessKeyId"]), str(data["AccessKeySecret"]), str(data["SecurityToken"]))
        except (KeyError, TypeError):
            raise CloudError(f"{STS_PATH} answered without storage credentials") from None


def signature(secret: str, verb: str, content_md5: str, content_type: str, date: str, token: str, resource: str) -> str:
    """The OSS version-1 header signature of one request."""
    text = "\n".join([verb, content_md5, content_type, date, f"x-oss-security-token:{token}", resource])
    return base64.b64encode(hmac.new(secret.encode(), text.encode(), hashlib.sha1).digest()).decode()


def _signed_headers(sts: StsToken, verb: str, bucket: str, key: str, md5: str = "", content_type: str = "") -> dict:
    date = formatdate(usegmt=True)
    resource = f"/{bucket}/{key}"
    sig = signature(sts.access_key_secret, verb, md5, content_type, date, sts.security_token, resource)
    headers = {
        "Date": date,
        "x-oss-security-token": sts.security_token,
        "Authorization": f"OSS {sts.access_key_id}:{sig}",
    }
    if md5:
        headers["Content-MD5"] = md5
    if content_type:
        headers["Content-Type"] = content_type
    return headers


def object_url(bucket_url: str, key: str) -> str:
    return bucket_url + urllib.parse.quote(key)


def put_object(session: CloudSession, sts: StsToken, key: str, path: str) -> str:
    """Upload the file ``path`` as object ``key``; return its URL (what a job's ``jobResources`` names)."""
    endpoints = session.endpoints
    with open(path, "rb") as f:
        body = f.read()
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    url = object_url(endpoints.bucket_url, key)
    headers = _signed_headers(sts, "PUT", endpoints.bucket_name, key, md5, ZIP_TYPE)
    response = session.send("PUT", url, data=body, headers=headers)
    if not response.ok:
        raise CloudError(
            f"uploading {os.path.basename(path)} to {url} was refused with HTTP {response.status_code}: "
            f"{response.text[:300]}"
        )
    return url


def get_object(session: CloudSession, sts: StsToken, key: str, save_file: str) -> str:
    """Download object ``key`` into ``save_file``."""
    endpoints = session.endpoints
    url = object_url(endpoints.bucket_url, key)
    response = session.send("GET", url, headers=_signed_headers(sts, "GET", endpoints.bucket_name, key))
    if not response.ok:
        raise CloudError(f"downloading {url} was refused with HTTP {response.status_code}: {response.text[:300]}")
    with open(save_file, "wb") as f:
        f.write(response.content)
    return save_file
