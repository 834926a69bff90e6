"""Train/eval mode, switched for a section and restored after it, whatever the section raises."""
from contextlib import contextmanager


@contextmanager
def eval_mode(*models):
    """The models in eval mode inside the block; each gets back the mode it had."""
    states = [m.training for m in models]
    for m in models:
        m.eval()
    try:
        yield
    finally:
        for m, state in zip(models, states):
            m.train(state)
