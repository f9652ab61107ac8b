"""How ``trained_model`` trains, chosen in the deployment settings (``BATCH_TRAINING_TRAINER_MODE``):

- ``in_process``: in the step's own process (the embedded default);
- ``torchrun``: ``torchrun --nproc-per-node N`` on this machine through ``dagster.PipesSubprocessClient``
  (DDP: gloo on CPU, nccl on GPU), bounded by ``timeout_s``;
- ``kubernetes``: the same ``torchrun`` in a pod through ``dagster_k8s.PipesK8sClient``, image,
  resources (GPUs, CPU, memory), node selector and the volume that holds the artifact store from the
  settings.

The child (``batch_training.candidate.child``) opens Pipes on rank 0 and reports the materialization
with the metadata ``run_job`` makes in process too: the asset's metadata, lineage and checkpoint do
not depend on the mode (``trainer_mode`` and ``world_size`` say how it ran). A child
that fails fails the step with the failing rank's own error and class; one that dies without saying
why (killed, out of memory) or runs past ``timeout_s`` is a transient failure.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
from typing import Any

import dagster as dg
from pydantic import Field

from batch_training.candidate.job import MODES, TrainJob, data_version, metadata, read_failures, run_job
from batch_training.defs.boundary import as_failure
from batch_training.errors import CODE, CONFIG, TRANSIENT

CHILD = "batch_training.candidate.child"
_TIMED_OUT = 124  # coreutils timeout's exit status


class TrainerFailed(RuntimeError):
    """The training child failed; its message is the failing rank's error."""


class TrainerResource(dg.ConfigurableResource):
    """Where ``trained_model`` trains (see the module's doc); everything but ``mode`` is optional."""

    mode: str = Field(default="in_process", description="in_process, torchrun or kubernetes")
    processes: int = Field(default=2, ge=1, description="processes per node (torchrun; one per GPU in a pod)")
    timeout_s: float = Field(default=6 * 3600, gt=0, description="the child's wall-clock limit")
    image: str | None = None
    namespace: str | None = None
    gpus: int = Field(default=0, ge=0, description="nvidia.com/gpu limit of the pod (0: a CPU pod)")
    cpu: str | None = None
    memory: str | None = None
    node_selector: dict[str, str] = Field(default_factory=dict)
    volume_claim: str | None = Field(default=None, description="PVC holding BATCH_TRAINING_HOME, mounted at its path")
    home: str | None = Field(default=None, description="BATCH_TRAINING_HOME, where the claim is mounted in the pod")

    def train(self, context: dg.AssetExecutionContext, job: TrainJob, log_epochs) -> dg.MaterializeResult:
        if self.mode not in MODES:
            raise ValueError(f"trainer mode {self.mode!r} is not one of {', '.join(MODES)}")
        job = dataclasses.replace(job, mode=self.mode)
        if self.mode == "in_process":
            summary = run_job(job, callbacks=[log_epochs])
            assert summary is not None
            return dg.MaterializeResult(metadata=metadata_values(metadata(summary)),
                                        data_version=dg.DataVersion(data_version(summary)))
        world_size = self.world_size
        job.clear_failures(world_size)
        job_file = job.write(job.folder / ".train_job.json")
        try:
            if self.mode == "torchrun":
                invocation = dg.PipesSubprocessClient().run(context=context, command=self.torchrun_command(job_file))
            else:
                invocation = self._run_pod(context, job_file)
        except Exception as exc:
            raise child_failure(job, world_size, exc, self.timeout_s) from exc
        results = invocation.get_results(implicit_materializations=False)
        if not results:
            raise TrainerFailed("the training child ended without reporting the model")
        result = results[0]
        assert isinstance(result, dg.MaterializeResult)
        return dg.MaterializeResult(metadata=result.metadata, data_version=result.data_version)

    @property
    def world_size(self) -> int:
        return self.gpus if self.mode == "kubernetes" and self.gpus else self.processes

    def torchrun_command(self, job_file) -> list[str]:
        """``torchrun`` (as ``python -m torch.distributed.run``) on this machine, under a timeout."""
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc-per-node={self.processes}", "-m", CHILD, str(job_file)]
        timeout = shutil.which("timeout")
        return ([timeout, "--kill-after=30", f"{int(self.timeout_s)}", *command] if timeout else command)

    # -- kubernetes ----------------------------------------------------------------------------
    def pod_command(self, job_file) -> list[str]:
        return ["timeout", "--kill-after=30", f"{int(self.timeout_s)}", "torchrun", "--standalone",
                f"--nproc-per-node={self.world_size}", "-m", CHILD, str(job_file)]

    def pod_spec(self) -> dict[str, Any]:
        """The pod's spec beside the image and command: resources, GPU node selector, the artifact volume."""
        limits: dict[str, str] = {}
        if self.gpus:
            limits["nvidia.com/gpu"] = str(self.gpus)
        if self.cpu:
            limits["cpu"] = self.cpu
        if self.memory:
            limits["memory"] = self.memory
        container: dict[str, Any] = {"resources": {"limits": limits, "requests": dict(limits)}}
        if self.home:
            container["env"] = [{"name": "BATCH_TRAINING_HOME", "value": self.home}]
        spec: dict[str, Any] = {"containers": [container]}
        if self.node_selector:
            spec["node_selector"] = dict(self.node_selector)
        if self.gpus:  # GPU nodes are commonly tainted so that only GPU work lands there
            spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
        if self.volume_claim:
            if not self.home:
                raise ValueError("a trainer volume claim needs the BATCH_TRAINING_HOME it holds")
            spec["volumes"] = [{"name": "artifacts", "persistent_volume_claim": {"claim_name": self.volume_claim}},
                               {"name": "shm", "empty_dir": {"medium": "Memory"}}]
            container["volume_mounts"] = [{"name": "artifacts", "mount_path": self.home},
                                          {"name": "shm", "mount_path": "/dev/shm"}]
        return spec

    def _run_pod(self, context, job_file):
        if not self.image:
            raise ValueError("the kubernetes trainer needs an image (BATCH_TRAINING_TRAINER_IMAGE)")
        from dagster_k8s import PipesK8sClient

        return PipesK8sClient().run(context=context, image=self.image, command=self.pod_command(job_file),
                                    namespace=self.namespace, base_pod_spec=self.pod_spec(),
                                    pod_wait_timeout=self.timeout_s + 600)


def child_failure(job: TrainJob, world_size: int, exc: BaseException, timeout_s: float) -> dg.Failure:
    """The step failure for a failed child: the first failing rank's error and class, a
    timeout or a silent death as transient, a launch that could not start as what its error is."""
    what = f"training ({job.mode}, {world_size} process(es))"
    failures = read_failures(job, world_size)
    if failures:
        first = failures[0]
        others = f" (also rank(s) {', '.join(str(f['rank']) for f in failures if f is not first)})" \
            if len(failures) > 1 else ""
        error = TrainerFailed(f"rank {first['rank']} of {world_size}: {first['message']}{others}")
        return as_failure(what, error, first["failure_class"])
    text = str(exc)
    if text.endswith(f"code {_TIMED_OUT}"):
        return as_failure(what, TrainerFailed(f"ran past its limit of {int(timeout_s)} s ({text})"), TRANSIENT)
    if type(exc).__name__ in ("ConfigException", "ValueError"):
        return as_failure(what, exc, CONFIG)
    if type(exc).__name__ in ("DagsterPipesExecutionError", "DagsterK8sError"):
        # the processes ended without a report: killed, out of memory, the machine or pod lost
        return as_failure(what, TrainerFailed(f"the training processes died without an error report: {text}"),
                          TRANSIENT)
    return as_failure(what, exc, CODE)


def metadata_values(raw: dict[str, dict[str, Any]]) -> dict[str, dg.MetadataValue]:
    """Pipes-form metadata as Dagster's values, as Dagster turns the child's report into them."""
    make = {"path": dg.MetadataValue.path, "json": dg.MetadataValue.json, "text": dg.MetadataValue.text,
            "int": dg.MetadataValue.int, "float": dg.MetadataValue.float, "bool": dg.MetadataValue.bool,
            "null": lambda _: dg.MetadataValue.null()}
    return {key: make[item["type"]](item["raw_value"]) for key, item in raw.items()}
