"""The return codes of the DP cloud API: the ``code`` of every JSON answer (``"0000"`` is success)."""

from __future__ import annotations


class RETCODE:
    """Return codes, by the names the published package gives them."""

    OK = "0000"
    DBERR = "2000"
    THIRDERR = "2001"
    DATAERR = "2002"
    IOERR = "2003"
    TOKENINVALID = "2100"
    PARAMERR = "2101"
    USERERR = "2102"
    ROLEERR = "2103"
    PWDERR = "2104"
    VERIFYERR = "2105"
    REQERR = "2200"
    NODATA = "2300"
    UNDERDEBUG = "2301"
    UNKNOWNERR = "2400"
    #: the spelling of dpdispatcher 1.1.0
    UNKOWNERR = UNKNOWNERR


def code_name(code: object) -> str:
    """``"2104"`` -> ``"2104 (PWDERR)"``; a code outside the table is shown as it came."""
    for name, value in vars(RETCODE).items():
        if name.isupper() and value == str(code) and name != "UNKOWNERR":
            return f"{code} ({name})"
    return str(code)
