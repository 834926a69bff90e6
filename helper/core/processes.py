"""Data parallelism across the processes that torchrun starts (one node or several).

--batch_size is the global batch. Every process forms the same global batch from the same seed,
runs the standard and the stronger DA on all of it (cheap next to the models, and it keeps mix
partners and picks exactly as in one process), then trains on its shard. Gradients are averaged
by DistributedDataParallel and BatchNorm statistics are taken over the global batch, so N
processes compute what one process with the same --batch_size computes, up to rounding."""
import atexit
import gc
import os
import warnings

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from helper.core.errors import UsageError


def select_device(name="auto"):
    """'auto' picks CUDA when present, else the CPU; any torch device string forces one."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"--device {name} is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {name} was asked for, but CUDA is not available here; "
                         "use --device cpu or --device auto")
    return device


class Processes:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    def __init__(self, rank=0, world_size=1, local_rank=0):
        self.rank, self.world_size, self.local_rank = rank, world_size, local_rank

    @property
    def enabled(self):
        return self.world_size > 1

    @property
    def is_main(self):
        """Only the main process writes files, logs and progress bars."""
        return self.rank == 0

    def shard(self, tensor):
        """This process's contiguous part of a global batch (sizes differ by at most one)."""
        return tensor.tensor_split(self.world_size)[self.rank] if self.enabled else tensor

    def gather(self, shard, total):
        """Concatenate every process's shard (of a batch of `total` rows split by `shard`)."""
        if not self.enabled:
            return shard
        sizes = [len(part) for part in torch.arange(total).tensor_split(self.world_size)]
        padded = shard.new_zeros((max(sizes), *shard.shape[1:]))
        padded[:len(shard)] = shard
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded)
        return torch.cat([part[:size] for part, size in zip(parts, sizes)])

    def gather_shards(self, shard):
        """gather() when the global batch size is not at hand: every process's shard, concatenated."""
        if not self.enabled:
            return shard
        total = self.sum(torch.tensor(len(shard), device=shard.device))
        return self.gather(shard, int(total))

    def gather_with_grad(self, shard, total):
        """As gather, but differentiable: the backward hands each process the sum, over the
        processes, of the gradients with respect to its own rows."""
        if not (self.enabled and shard.requires_grad):
            return self.gather(shard, total)
        from torch.distributed.nn.functional import all_gather
        sizes = [len(part) for part in torch.arange(total).tensor_split(self.world_size)]
        padded = torch.cat([shard, shard.new_zeros((max(sizes) - len(shard), *shard.shape[1:]))])
        with warnings.catch_warnings():  # deprecated in favour of a private API without autograd
            warnings.simplefilter("ignore", FutureWarning)
            parts = all_gather(padded)
        return torch.cat([part[:size] for part, size in zip(parts, sizes)])

    def sum(self, tensor):
        """Sum a tensor over the processes, in place."""
        if self.enabled:
            dist.all_reduce(tensor)
        return tensor

    def average_gradients(self, parameters):
        """Average the gradients of parameters that DistributedDataParallel does not own (a
        distiller's regressors and embeddings), so every process takes the same step."""
        if self.enabled:
            for p in parameters:
                if p.grad is not None:
                    dist.all_reduce(p.grad)
                    p.grad /= self.world_size

    def max(self, tensor):
        if self.enabled:
            dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return tensor

    def wrap(self, model):
        """The model as trained: DistributedDataParallel with global-batch BatchNorm when several
        processes run; the model itself otherwise. Its parameters and state_dict keys stay those of
        `model`, which is what checkpoints save."""
        if not self.enabled:
            return model
        self.global_batchnorm(model)
        if next(model.parameters()).is_cuda:
            return DistributedDataParallel(model, device_ids=[self.local_rank])
        return DistributedDataParallel(model)

    def global_batchnorm(self, module):
        """Make the BatchNorm layers below `module` (in place) take their training statistics over
        the global batch: SyncBatchNorm on CUDA, GlobalBatchNorm2d with gloo on the CPU."""
        if not self.enabled:
            return module
        if any(p.is_cuda for p in module.parameters()):
            return nn.SyncBatchNorm.convert_sync_batchnorm(module)
        return convert_to_global_batchnorm(module)


def _leave_group():
    """Leave the group, and stop its threads, before the interpreter exits. A gloo group torn down by
    interpreter shutdown aborts the process ("terminate called without an active exception"): a
    worker thread that drops a finished collective's tensors then needs the GIL, which shutdown
    holds. destroy_process_group alone does not stop the threads while a trained model's
    DistributedDataParallel, kept in a reference cycle, still holds the group; the collection after
    it frees them, and with them the group. The barrier: no process leaves before all are done."""
    dist.barrier()
    dist.destroy_process_group()
    gc.collect()


def launched_processes():
    """This process's place as torchrun's environment describes it (without torchrun: rank 0 of 1)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Processes()
    return Processes(int(os.environ["RANK"]), world_size, int(os.environ["LOCAL_RANK"]))


def refuse_several_processes(message):
    """For a script that runs as one process only; call it before anything is opened. Under torchrun
    the main process raises UsageError(message), which run_main prints as one line (exit status 2,
    which torchrun reports as the failure), and the others leave at once without a word, so that the
    reason is read once. They leave with status 0: torchrun stops the other processes as soon as one
    fails, so a failing helper could stop the main process before it had said why."""
    processes = launched_processes()
    if processes.enabled:
        if not processes.is_main:
            raise SystemExit(0)
        raise UsageError(message)


def init_processes(device_flag):
    """Join the process group torchrun describes in the environment (nccl on CUDA, gloo on the CPU)."""
    processes = launched_processes()
    device = select_device(device_flag)
    if not processes.enabled:
        return processes, device
    if device.type == "cuda":
        device = torch.device("cuda", processes.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        atexit.register(_leave_group)
    return processes, device


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics cover the global batch, for the CPU, where PyTorch's
    SyncBatchNorm does not run. Same parameters, buffers and state_dict keys as BatchNorm2d."""

    def forward(self, x):
        if not self.training:
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce  # sums, and sums gradients back
        local = torch.stack([x.sum(dim=(0, 2, 3)), x.square().sum(dim=(0, 2, 3))])
        count = torch.tensor(float(x.numel() // x.shape[1]))
        dist.all_reduce(count)
        with warnings.catch_warnings():  # deprecated in favour of a private API without autograd
            warnings.simplefilter("ignore", FutureWarning)
            total = all_reduce(local)
        mean = total[0] / count
        var = total[1] / count - mean.square()
        with torch.no_grad():
            self.num_batches_tracked += 1
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var * count / (count - 1), self.momentum)
        scale = self.weight * torch.rsqrt(var + self.eps)
        return x * scale.view(1, -1, 1, 1) + (self.bias - mean * scale).view(1, -1, 1, 1)


def convert_to_global_batchnorm(module):
    """Turn every BatchNorm2d below `module` into GlobalBatchNorm2d, in place (same tensors)."""
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            child.__class__ = GlobalBatchNorm2d
        else:
            convert_to_global_batchnorm(child)
    return module
