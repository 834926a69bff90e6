"""CRD (Tian et al., 2020): contrastive representation distillation with a memory bank.

Both penultimate embeddings are projected to ``feat_dim`` and L2-normalised. Each sample is contrasted
with ``nce_k`` negatives taken from a memory bank of every training sample's embedding, in both
directions (student anchor vs the teacher memory, teacher anchor vs the student memory), with CRD's
NCE objective. 'exact' mode: the positive is the sample itself, the negatives come from other classes.

With several processes each holds the whole memory bank: every step the rows that each process
updates (its shard's embeddings) are gathered and applied by all, the negatives are drawn for the
global batch on every process from the same generator, and the normalisation constants are taken
over the global batch, so the bank and the loss are those of one process. On ImageNet-1K the bank
is 2 x 1,281,167 x 128 float32 = 1.31 GB on each device.
"""

import math

import torch
from torch import Tensor, nn

from models.util import Embed

from helper.core.processes import Processes

from .base import DistillContext, Distiller

EPS = 1e-7


class ContrastMemory(nn.Module):
    """Memory bank of the student's and the teacher's embedding of every training sample.

    Buffers (they follow ``.to(device)`` and live in the state_dict): ``memory_s``, ``memory_t``
    (n_data, feat_dim) and ``z``, the two NCE normalisation constants, fixed at the first batch.
    """

    def __init__(self, feat_dim: int, n_data: int, nce_t: float, nce_m: float, generator: torch.Generator,
                 processes: Processes = Processes()):
        super().__init__()
        self.nce_t = nce_t
        self.nce_m = nce_m
        self.processes = processes
        bound = 1.0 / math.sqrt(feat_dim / 3)  # uniform init of CRD's memory
        for name in ("memory_s", "memory_t"):
            init = torch.rand(n_data, feat_dim, generator=generator) * 2 * bound - bound
            self.register_buffer(name, init)
        self.register_buffer("z", torch.full((2,), -1.0))  # < 0: not yet set

    def scores(self, v_s: Tensor, v_t: Tensor, contrast_idx: Tensor) -> tuple[Tensor, Tensor]:
        """Normalised exp-similarities (B, K+1) of each anchor with the memory rows ``contrast_idx``."""
        w_t = self.memory_t[contrast_idx]  # (B, K+1, D): the student is the anchor against these
        w_s = self.memory_s[contrast_idx]
        out_s = torch.exp(torch.bmm(w_t, v_s.unsqueeze(2)).squeeze(2) / self.nce_t)
        out_t = torch.exp(torch.bmm(w_s, v_t.unsqueeze(2)).squeeze(2) / self.nce_t)
        if self.z[0] < 0:
            # Monte-Carlo estimate of the partition function from the first (global) batch, then kept fixed
            n_data = self.memory_s.shape[0]
            sums = torch.stack([out_s.sum(), out_t.sum(), out_s.new_tensor(float(out_s.numel()))]).detach()
            sums = self.processes.sum(sums)
            self.z.copy_(sums[:2] / sums[2] * n_data)
        return out_s / self.z[0], out_t / self.z[1]

    @torch.no_grad()
    def update(self, v_s: Tensor, v_t: Tensor, index: Tensor) -> None:
        """Momentum update of the batch's rows, re-normalised to unit length; every process applies
        the rows of every process."""
        gather = self.processes.gather_shards
        dtype = self.memory_s.dtype  # embeddings computed under autocast come in lower precision
        v_s, v_t, index = gather(v_s.detach().to(dtype)), gather(v_t.detach().to(dtype)), gather(index)
        for memory, v in ((self.memory_s, v_s), (self.memory_t, v_t)):
            rows = memory[index] * self.nce_m + v.detach() * (1 - self.nce_m)
            memory.index_copy_(0, index, nn.functional.normalize(rows, dim=1))


def nce_loss(scores: Tensor, n_data: int) -> Tensor:
    """CRD's NCE loss (its Eq. 18): column 0 holds the positive, the rest the K negatives; the noise
    distribution is uniform over the data set."""
    k = scores.shape[1] - 1
    noise = k / n_data
    log_d_pos = torch.log(scores[:, 0] / (scores[:, 0] + noise + EPS))
    log_d_neg = torch.log(noise / (scores[:, 1:] + noise + EPS))
    return -(log_d_pos.sum() + log_d_neg.sum()) / scores.shape[0]


def first_distinct(values: Tensor) -> Tensor:
    """The distinct values of a 1-D tensor in the order of their first occurrence."""
    order = values.argsort(stable=True)  # equal values keep their order: the first one leads
    ordered = values[order]
    repeat = torch.zeros(len(values), dtype=torch.bool)
    repeat[order[1:][ordered[1:] == ordered[:-1]]] = True
    return values[~repeat]


class CRDDistiller(Distiller):
    """CRD on feat[-1]; negatives are drawn here, on the CPU, with the module's own generator
    (seeded from --seed, saved in the state_dict), so resuming from a checkpoint is exact."""

    default_beta = 0.8

    def __init__(self, s_dim: int, t_dim: int, feat_dim: int, nce_k: int, nce_t: float, nce_m: float,
                 train_labels: Tensor, seed: int, processes: Processes = Processes()):
        super().__init__()
        self.processes = processes
        self.generator = torch.Generator().manual_seed(seed)
        self.nce_k = nce_k
        self.labels = train_labels.detach().cpu().long()  # dataset labels, kept on the CPU for sampling
        n_data = len(self.labels)
        class_sizes = torch.bincount(self.labels)
        self.pool_sizes = n_data - class_sizes  # number of candidate negatives for each class
        self.embed_s = Embed(s_dim, feat_dim)
        self.embed_t = Embed(t_dim, feat_dim)
        self.memory = ContrastMemory(feat_dim, n_data, nce_t, nce_m, self.generator, processes)

    def sample_contrast_index(self, target: Tensor, index: Tensor) -> Tensor:
        """(B, 1+K) CPU indices: the sample itself, then K negatives of other classes, drawn without
        replacement unless the class has fewer than K negatives (as CRD's data set does)."""
        target, index = target.cpu(), index.cpu()
        negatives = torch.empty(len(target), self.nce_k, dtype=torch.long)
        for row, label in enumerate(target.tolist()):
            if self.pool_sizes[label] >= self.nce_k:
                negatives[row] = self._distinct_negatives(label)
            else:
                weights = (self.labels != label).float()
                negatives[row] = torch.multinomial(weights, self.nce_k, replacement=True, generator=self.generator)
        return torch.cat([index[:, None], negatives], dim=1)

    def _distinct_negatives(self, label: int) -> Tensor:
        """K distinct indices of classes other than `label`, uniform over such K-subsets: the first K
        distinct values of a stream of uniform draws over the data set that miss the class. Costs
        O(K), not O(n_data) per sample as a permutation of the pool would (1.28 M on ImageNet)."""
        n_data, k = len(self.labels), self.nce_k
        found = torch.empty(0, dtype=torch.long)
        while len(found) < k:
            # enough draws for the missing ones, allowing for same-class hits and repeats
            n_draws = int((k - len(found)) * n_data / int(self.pool_sizes[label]) * 1.2) + 32
            draws = torch.randint(n_data, (n_draws,), generator=self.generator)
            found = first_distinct(torch.cat([found, draws[self.labels[draws] != label]]))
        return found[:k]

    def forward(self, feat_s, feat_t, logit_s, logit_t, target, index):
        v_s = self.embed_s(feat_s[-1])
        v_t = self.embed_t(feat_t[-1])
        # drawn for the global batch, so the generator moves alike on every process
        gather = self.processes.gather_shards
        contrast_idx = self.processes.shard(self.sample_contrast_index(gather(target), gather(index)))
        contrast_idx = contrast_idx.to(v_s.device)
        out_s, out_t = self.memory.scores(v_s, v_t, contrast_idx)
        self.memory.update(v_s, v_t, index.to(v_s.device))
        n_data = len(self.labels)
        return nce_loss(out_s, n_data) + nce_loss(out_t, n_data)

    def get_extra_state(self):
        return {"generator": self.generator.get_state()}

    def set_extra_state(self, state):
        self.generator.set_state(state["generator"])


def build(ctx: DistillContext) -> CRDDistiller:
    opt = ctx.opt
    return CRDDistiller(ctx.feat_s[-1].shape[1], ctx.feat_t[-1].shape[1], opt.feat_dim, opt.nce_k, opt.nce_t,
                        opt.nce_m, ctx.train_labels, opt.seed, ctx.processes)
