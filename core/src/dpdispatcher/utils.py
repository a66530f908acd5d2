"""Small helpers kept from the published package's ``dpdispatcher.utils``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import subprocess
import time


def generate_totp(secret: str, period: int = 30, token_length: int = 6) -> int:
    """Time-based one-time password (RFC 6238) from a base32 ``secret``."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = struct.pack(">Q", int(time.time() // period))
    digest = hmac.new(key, counter, hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return code % 10**token_length


def get_sha256(filename: str) -> str:
    h = hashlib.sha256()
    with open(filename, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run_cmd_with_all_output(cmd: str) -> tuple[int, str, str]:
    proc = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr
