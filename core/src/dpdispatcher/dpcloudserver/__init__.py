"""Published path; served from the installed dpdispatcher-dpcloudserver (see dpdispatcher._published)."""

from dpdispatcher._published import served_module

__getattr__ = served_module(
    __name__, ("API", "RETCODE", "Client", "RequestInfoException", "unzip_file", "zip_file_list"), "DpCloudServer"
)
