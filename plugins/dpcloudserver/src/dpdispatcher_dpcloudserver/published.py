"""What ``dpdispatcher.dpcloudserver`` (the published package's module) offers, served by the core from here."""

from dpdispatcher_dpcloudserver.api import API, Client
from dpdispatcher_dpcloudserver.archive import unzip_file, zip_file_list
from dpdispatcher_dpcloudserver.errors import RequestInfoException
from dpdispatcher_dpcloudserver.retcode import RETCODE

__all__ = ["API", "RETCODE", "Client", "RequestInfoException", "unzip_file", "zip_file_list"]
