"""Where randomness comes from: --seed seeds the global generators, and each stream of randomness
(batch order, standard DA, stronger DA, T. stddev's views, a study's samplers) gets its own CPU
generator derived from the seed and the stream's key, so that runs differing in one choice share
every other draw. Checkpoints save and restore the streams' states, so a resumed run draws on."""
import random
import zlib

import numpy as np
import torch


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def derived_seed(*key):
    """A 32-bit seed derived from a key of non-negative integers (numpy's SeedSequence: nearby keys
    give unrelated seeds)."""
    return int(np.random.SeedSequence(list(key)).generate_state(1)[0])


def generator(*key):
    """A CPU generator seeded from ``key`` (see derived_seed)."""
    return torch.Generator().manual_seed(derived_seed(*key))


def named_generator(seed, *names):
    """A generator for one named stream: the seed and the names, not positions, fix it, so adding
    a stream (a DA to a run) does not change what the others draw."""
    return generator(seed, *(zlib.crc32(name.encode()) for name in names))


# The streams of a training run, each seeded by its position: append only, so that the existing ones
# keep their seeds (and a teacher's numbers) when one is added. The stronger DA has a stream of its
# own, so that students of the same seed differing only in the DA see the same batches, crops and flips.
STREAMS = ("data", "augment", "stronger_da")
STANDARD_STREAMS = STREAMS[:2]  # batch order, standard DA: all a run without a stronger DA draws


def make_generators(seed, names=STREAMS):
    """Independent CPU generators, one per stream of a training run, all derived from --seed."""
    return {name: generator(seed, STREAMS.index(name)) for name in names}


def rng_state(generators):
    state = {f"generator_{name}": g.get_state() for name, g in generators.items()}
    state["torch_cpu"] = torch.get_rng_state()
    if torch.cuda.is_available():
        state["torch_cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state, generators):
    """Returns the names of the streams the state has none for (a checkpoint older than they are):
    those start afresh from the seed."""
    missing = [name for name in generators if f"generator_{name}" not in state]
    for name, g in generators.items():
        if name not in missing:
            g.set_state(state[f"generator_{name}"])
    torch.set_rng_state(state["torch_cpu"])
    if "torch_cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["torch_cuda"])
    return missing
