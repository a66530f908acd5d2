"""Resources: what each job asks the scheduler for and how its script runs tasks."""

from __future__ import annotations

import os
from typing import Any

from dpdispatcher.arginfo import check_and_normalize, env_names_ok, one_line, quick_check, resources_args
from dpdispatcher.errors import ConfigError
from dpdispatcher.records import load_config_file

DEFAULT_STRATEGY = {"if_cuda_multi_devices": False, "ratio_unfinished": 0.0}


class Resources:
    """Nodes, CPUs, GPUs, queue and the job-script options of a submission's jobs."""

    def __init__(
        self,
        number_node: int = 1,
        cpu_per_node: int = 1,
        gpu_per_node: int = 0,
        queue_name: str = "",
        group_size: int = 1,
        *,
        custom_flags: list[str] | None = None,
        strategy: dict[str, Any] | None = None,
        para_deg: int = 1,
        module_unload_list: list[str] | None = None,
        module_purge: bool = False,
        module_list: list[str] | None = None,
        source_list: list[str] | None = None,
        envs: dict[str, Any] | None = None,
        prepend_script: list[str] | None = None,
        append_script: list[str] | None = None,
        wait_time: float = 0,
        batch_type: str | None = None,
        kwargs: dict[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        self.number_node = number_node
        self.cpu_per_node = cpu_per_node
        self.gpu_per_node = gpu_per_node
        self.queue_name = queue_name
        self.group_size = group_size
        self.custom_flags = list(custom_flags or [])
        # the user's keys first, then the defaults they left out: the published package's order
        self.strategy = {**(strategy or {}), **{k: v for k, v in DEFAULT_STRATEGY.items() if k not in (strategy or {})}}
        self.para_deg = para_deg
        self.module_unload_list = list(module_unload_list or [])
        self.module_purge = module_purge
        self.module_list = list(module_list or [])
        self.source_list = list(source_list or [])
        self.envs = dict(envs or {})
        self.prepend_script = list(prepend_script or [])
        self.append_script = list(append_script or [])
        self.wait_time = wait_time
        #: the batch type the config named for its kwargs schema; not serialized (the machine's decides), as published
        self.batch_type = batch_type
        # the published package accepted unknown keyword arguments as kwargs
        self.kwargs = {**(kwargs or {}), **extra}
        quick_check(resources_args, self.serialize(), "resources", self._looks_valid())
        self._check_strategy()

    def _check_strategy(self) -> None:
        """The strategy combinations the published package refuses, with its words and the argument path."""
        if self.strategy.get("if_cuda_multi_devices") is True:
            if self.gpu_per_node < 1:
                raise ConfigError(
                    "invalid resources: resources/strategy/if_cuda_multi_devices: gpu_per_node can not be smaller "
                    "than 1 when if_cuda_multi_devices is True"
                )
            if self.number_node != 1:
                raise ConfigError(
                    "invalid resources: resources/strategy/if_cuda_multi_devices: number_node must be 1 when "
                    "if_cuda_multi_devices is True"
                )
        if float(self.strategy.get("ratio_unfinished") or 0.0) >= 1.0:
            raise ConfigError(
                "invalid resources: resources/strategy/ratio_unfinished: ratio_unfinished must be smaller than 1.0"
            )

    def _looks_valid(self) -> bool:
        """The checks of the config loader that matter, without its cost (Job.deserialize builds many)."""
        counts = (self.number_node, self.cpu_per_node, self.gpu_per_node, self.group_size)
        lists = (self.custom_flags, self.module_unload_list, self.module_list, self.source_list)
        return (
            all(type(n) is int and n >= 0 for n in counts)
            and type(self.para_deg) is int
            and self.para_deg >= 1
            and isinstance(self.queue_name, str)
            and one_line(self.queue_name)
            and all(isinstance(v, list) and all(isinstance(x, str) for x in v) and one_line(v) for v in lists)
            and isinstance(self.envs, dict)
            and env_names_ok(self.envs)
            and all(one_line(v) for v in self.kwargs.values())
            and isinstance(self.wait_time, (int, float))
        )

    @property
    def if_cuda_multi_devices(self) -> bool:
        return self.strategy.get("if_cuda_multi_devices") is True

    @property
    def ratio_unfinished(self) -> float:
        return float(self.strategy.get("ratio_unfinished") or 0.0)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Resources) and self.serialize() == other.serialize()

    def serialize(self) -> dict[str, Any]:
        """The published package's form, key for key and in its order."""
        return {
            "number_node": self.number_node,
            "cpu_per_node": self.cpu_per_node,
            "gpu_per_node": self.gpu_per_node,
            "queue_name": self.queue_name,
            "group_size": self.group_size,
            "custom_flags": self.custom_flags,
            "strategy": self.strategy,
            "para_deg": self.para_deg,
            "module_purge": self.module_purge,
            "module_unload_list": self.module_unload_list,
            "module_list": self.module_list,
            "source_list": self.source_list,
            "envs": self.envs,
            "prepend_script": self.prepend_script,
            "append_script": self.append_script,
            "wait_time": self.wait_time,
            "kwargs": self.kwargs,
        }

    @classmethod
    def deserialize(cls, resources_dict: dict[str, Any]) -> Resources:
        return cls(**resources_dict)

    @classmethod
    def load_from_dict(cls, resources_dict: dict[str, Any]) -> Resources:
        normalized = check_and_normalize(resources_args(), resources_dict, "resources")
        if "batch_type" not in resources_dict:
            # dargs filled in its default tag (the first installed batch type): not the user's choice, and it
            # would change the submission's identity whenever a plugin is installed
            normalized.pop("batch_type", None)
        return cls.deserialize(normalized)

    @classmethod
    def load_from_json(cls, json_file: str | os.PathLike[str]) -> Resources:
        return cls.load_from_dict(load_config_file(json_file))

    load_from_yaml = load_from_json

    @staticmethod
    def arginfo(detail_kwargs: bool = True) -> Any:
        return resources_args(detail_kwargs)
