"""Progress bars on loops that run for more than a few seconds."""
from tqdm import tqdm


def progress(iterable, desc, show=True):
    # disable=None: bars on a terminal, silent in logs and CI; only the main process shows them.
    return tqdm(iterable, desc=desc, leave=False, disable=None if show else True, dynamic_ncols=True)
