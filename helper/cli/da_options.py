"""The stronger DA's flags that train_student.py, eval_da_goodness.py and tune_da.py share, defined
once with one set of bounds (those DAConfig checks)."""
from helper.augment import GRANULARITIES, DAConfig
from helper.augment.base import MIN_MIX_N_RUN, MIN_N_PICK
from helper.core.errors import UsageError


def add_da_args(group):
    """--da_granularity, --mix_n_run and --n_pick, in the script's DA group."""
    group.add_argument("--da_granularity", default="sample", choices=GRANULARITIES,
                       help="sample: each image draws its own DA parameters; batch: one draw per batch, "
                            "as the original code did")
    group.add_argument("--mix_n_run", type=int, default=2, help="cutmix runs that form cutmix_pick's pool")
    group.add_argument("--n_pick", type=int, default=None, help="images cutmix_pick keeps (default: batch size)")
    return group


def check_da_args(opt):
    if opt.mix_n_run < MIN_MIX_N_RUN or (opt.n_pick is not None and opt.n_pick < MIN_N_PICK):
        raise UsageError(f"--mix_n_run must be at least {MIN_MIX_N_RUN} and --n_pick at least {MIN_N_PICK}")
    return opt


def da_config(opt, image_size, mean=None, pick_by="teacher"):
    """The DAConfig of the DA flags, for a data set of ``image_size`` pixels and channel ``mean``."""
    return DAConfig(image_size, granularity=opt.da_granularity, mix_n_run=opt.mix_n_run, n_pick=opt.n_pick,
                    mean=mean, pick_by=pick_by)
