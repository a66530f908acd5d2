"""Published path; served from the installed dpdispatcher-dpcloudserver (see dpdispatcher._published)."""

from dpdispatcher._published import served_module

__getattr__ = served_module(
    __name__, ("API_HOST", "ALI_OSS_BUCKET_URL", "ALI_STS_BUCKET_NAME", "HTTP_TIME_OUT"), "DpCloudServer"
)
