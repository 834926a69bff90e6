"""The T. stddev flags that eval_da_goodness.py and tune_da.py share, and what they make of them: the
pass's GoodnessSettings and its compute batch."""
from helper.core.speed import autocast
from helper.goodness.compute_batch import fastest_compute_batch
from helper.goodness.plan import GROUPINGS, GoodnessSettings


def add_goodness_args(group, n_groups_default, n_groups_help, n_groups_type=int):
    group.add_argument("--n_groups", type=n_groups_type, default=n_groups_default, help=n_groups_help)
    group.add_argument("--group_batches", type=int, default=5, help="batches per group")
    group.add_argument("--batch_size", type=int, default=64)
    group.add_argument("--compute_batch", type=int, default=None,
                       help="at most this many images per teacher forward (speed only; default: the "
                            "fastest for this teacher on this device, measured in a few seconds at start-up)")
    group.add_argument("--grouping", default="sample", choices=GROUPINGS,
                       help="sample: every batch full, groups on the sample stream; original: per-epoch "
                            "batches with CRD's short last batch, as the original code")
    group.add_argument("--n_bootstrap", type=int, default=1000, help="resamples of groups for the 95%% CI")
    return group


def settings_for(opt, n_groups, compute_batch=None):
    return GoodnessSettings(n_groups=n_groups, group_batches=opt.group_batches, batch_size=opt.batch_size,
                            compute_batch=compute_batch or opt.compute_batch or opt.batch_size,
                            grouping=opt.grouping, paired=not opt.unpaired, seed=opt.seed)


def tune_compute_batch(opt, teacher, data, processes):
    """--compute_batch, or the size at which the teacher's inference on this device is fastest."""
    if opt.compute_batch is not None:
        return opt.compute_batch, {}

    def forward(images):  # each process times its own shard: no collective inside the timed calls,
        with autocast(images.device, opt.amp):  # whose number differs between processes
            return teacher(data.normalize(processes.shard(images)))
    return fastest_compute_batch(forward, data.train, opt.batch_size, processes)
