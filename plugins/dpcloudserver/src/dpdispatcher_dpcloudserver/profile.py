"""``remote_profile`` of the DP cloud, as the manual gives it, checked by dargs with argument paths
(``machine[DpCloudServerContext]/remote_profile/input_data/platform``)."""

from __future__ import annotations

from dargs import Argument

from dpdispatcher_dpcloudserver.settings import PASSWORD_ENV

#: the platform keeps checkpoints no more often than this (minutes)
MIN_CHECKPOINT_TIME = 15


def input_data_args() -> list[Argument]:
    return [
        Argument(
            "job_type",
            str,
            optional=True,
            default="container",
            doc="The kind of job the platform runs (Bohrium's job type).",
        ),
        Argument("job_name", str, optional=True, doc="Job name"),
        Argument(
            "image_name",
            str,
            optional=True,
            doc="Name of the image which run the job, optional when platform is not ali/oss.",
        ),
        Argument("image_address", str, optional=True, doc="Address of the image (Bohrium's newer form of image_name)."),
        Argument("disk_size", [int, str], optional=True, doc="disk size (GB), optional when platform is not ali/oss."),
        Argument("scass_type", str, alias=["machine_type"], doc="machine configuration."),
        Argument("platform", str, doc="Job run in which platform."),
        Argument("log_file", str, optional=True, doc="location of log file."),
        Argument(
            "checkpoint_files",
            [list, str],
            optional=True,
            doc="location of checkpoint files when it is list type. record file changes when it is string value 'sync_files'",
        ),
        Argument(
            "checkpoint_time",
            int,
            optional=True,
            default=MIN_CHECKPOINT_TIME,
            extra_check=lambda v: v >= MIN_CHECKPOINT_TIME,
            extra_check_errmsg=f"must be at least {MIN_CHECKPOINT_TIME} (minutes)",
            doc=f"interval of checkpoint data been stored minimum {MIN_CHECKPOINT_TIME}.",
        ),
        Argument(
            "backward_files",
            list,
            optional=True,
            doc="Files the platform sends back besides the tasks' backward files (all of them when it is empty).",
        ),
        Argument("on_demand", int, optional=True, doc="Bohrium's onDemand option, passed on as given."),
        Argument(
            "grouped",
            bool,
            optional=True,
            doc="Accepted for dpdispatcher 1.1.0 configs; the jobs of a submission are always put in one job group "
            "(so that one listing call answers for all of them).",
        ),
    ]


def remote_profile_args() -> list[Argument]:
    return [
        Argument(
            "remote_profile",
            dict,
            [
                Argument("email", str, doc="Email"),
                Argument(
                    "password",
                    str,
                    optional=True,
                    doc=f"Password. Leave it out to take it from the environment variable {PASSWORD_ENV}; it is never "
                    "written to a record, a log or an error message.",
                ),
                Argument("program_id", int, alias=["project_id"], doc="Program ID"),
                Argument("input_data", dict, input_data_args(), doc="Configuration of job"),
            ],
            doc="The information used to maintain the connection with remote machine.",
        )
    ]
