"""Flags shared by the training scripts, with CRD's names and defaults, and their checks."""
import argparse
import sys

from dataset import DATASETS
from helper.core.errors import UsageError
from helper.core.processes import launched_processes
from models.external import is_external

# CRD trains these with lr 0.01 instead of 0.05.
SMALL_LR_MODELS = ("MobileNetV2", "ShuffleV1", "ShuffleV2")
DEFAULT_LR, SMALL_MODEL_LR = 0.05, 0.01
CRD_EPOCHS, CRD_DECAY_EPOCHS = 240, (150, 180, 210)


def default_decay_epochs(epochs):
    """CRD's decay epochs at the same fractions of a run of `epochs` (exactly CRD's at 240); those
    that round to the same epoch count once (finalize_training_args prints a note)."""
    return sorted({max(1, round(e * epochs / CRD_EPOCHS)) for e in CRD_DECAY_EPOCHS})


def add_data_args(parser):
    group = parser.add_argument_group("data")
    group.add_argument("--dataset", default="cifar100", choices=list(DATASETS))
    group.add_argument("--data_folder", default="./data",
                       help="folder holding cifar-100-python/, cifar-10-batches-py/, tiny-imagenet-200/, "
                            "svhn's .mat files, imagenet/ or imagenet100/; for imagefolder, the folder "
                            "holding train/ and val/")
    group.add_argument("--image_size", type=int, default=None,
                       help="side of the crops of streamed data sets (imagenet, imagenet100, imagefolder; "
                            "default 224)")
    group.add_argument("--num_workers", type=int, default=None,
                       help="DataLoader workers decoding streamed data sets (default: the cores, shared "
                            "by the processes of a machine)")
    group.add_argument("--download", action="store_true", help="fetch the data set if missing (online only)")
    group.add_argument("--train_subset", type=int, default=None,
                       help="train on a stratified random subset of this size (fixed by --subset_seed)")
    group.add_argument("--test_subset", type=int, default=None,
                       help="evaluate on a stratified random subset of this size (fixed by --subset_seed)")
    group.add_argument("--subset_seed", type=int, default=None,
                       help="seed that draws the subsets (default: --seed); fix it to compare seeds or DAs "
                            "on one subset")
    group.add_argument("--device", default="auto", help="auto (CUDA if present, else CPU), cpu, cuda, cuda:1, ...")
    group.add_argument("--seed", type=int, default=0, help="all randomness flows from this seed")
    return group


def parse_data_args(argv):
    """The data and speed flags alone, with their defaults: for a script that evaluates a model as
    train_teacher.py --evaluate does."""
    parser = argparse.ArgumentParser(add_help=False)
    add_data_args(parser)
    add_speed_args(parser)
    return parser.parse_args(argv)


def add_teacher_args(parser):
    group = parser.add_argument_group("models")
    group.add_argument("--path_t", default=None, help="teacher checkpoint (ours, RepDistiller's, a "
                       "torchvision weight file such as resnet34-b627a593.pth, or a timm/torchvision state_dict)")
    group.add_argument("--model_t", default=None, help="teacher architecture, if neither the checkpoint "
                       "nor its folder or file name tells it: a zoo name or a spec such as timm:resnet18")
    group.add_argument("--pretrained", action="store_true",
                       help="teacher: the library's own weights for --model_t (torchvision's ImageNet weights "
                            "for a zoo name; downloaded; online only)")
    return group


def check_teacher_args(opt):
    """Exactly one teacher source: --path_t, or --model_t with --pretrained."""
    if opt.pretrained and (opt.model_t is None or opt.path_t is not None):
        raise UsageError("--pretrained needs --model_t (e.g. resnet34) and no --path_t")
    if not opt.pretrained and opt.path_t is None:
        raise UsageError("the teacher is missing: pass --path_t CKPT, or --model_t ARCH --pretrained")
    if opt.pretrained:  # how records name the teacher
        opt.path_t = opt.model_t if is_external(opt.model_t) else f"torchvision:{opt.model_t}"
    return opt


def add_speed_args(parser):
    group = parser.add_argument_group("speed (results do not depend on these beyond rounding)")
    _add_speed_flags(group)
    # Not a speed flag: bfloat16 keeps 8 bits of mantissa, so a run's numbers move far beyond
    # float32 rounding and its trajectory is another one; a resumed run must keep it.
    parser.add_argument_group("precision").add_argument(
        "--amp", action="store_true",
        help="bfloat16 autocast (on the CPU too, where it is usually slower): the models compute with about 3 "
             "significant digits, so a run's numbers move far beyond float32 rounding and it resumes only with "
             "the setting it started with; T. stddev is still summed in float64 from the logits, and on CIFAR-100 "
             "resnet8 teachers --amp moved it by at most 0.14%% of its value (4%% of its 95%% interval's width), "
             "the DAs' order unchanged (docs/t-stddev.md)")
    return group


def _add_speed_flags(group):
    group.add_argument("--channels_last", action=argparse.BooleanOptionalAction, default=True,
                       help="channels-last memory format for models and inputs (default: on; the fastest "
                            "layout on CUDA and on the CPU, where the KD step's model work took 10-15%% less "
                            "time; float32 results move by rounding only)")
    group.add_argument("--compile", action="store_true",
                       help="torch.compile the models (off by default: on the CPU it took 5 minutes to compile "
                            "resnet56->resnet20 for a step 4%% faster than channels-last alone)")


def _dests(add_flags):
    """The option names that `add_flags` defines, read off a parser of their own."""
    parser = argparse.ArgumentParser(add_help=False)
    add_flags(parser)
    return frozenset(vars(parser.parse_args([])))


# The options a resumed run may change: they cannot change what it computes. The speed group,
# and the flags that say where the run's files and data are or how the run is driven
# (--t_output_as_target_for_input_mix is accepted and ignored).
NOT_SETTINGS = _dests(_add_speed_flags) | {
    "resume", "overwrite", "save_freq", "model_path", "project", "evaluate", "data_folder", "num_workers",
    "download", "device", "t_output_as_target_for_input_mix"}


def run_settings(opt):
    """The options that decide what a run computes, as parsed and resolved (canonical DA spec,
    lw_mix as floats, the lr and decay epochs a default stands for): every option but NOT_SETTINGS."""
    return {name: value for name, value in sorted(vars(opt).items()) if name not in NOT_SETTINGS}


def add_training_args(parser, trial_flags=("--trial",), default_trial="0"):
    """CRD's optimisation and run flags; the trial flag's spelling and default differ between
    RepDistiller's train_teacher.py (-t/--trial, 0) and train_student.py (--trial, 1)."""
    group = parser.add_argument_group("optimisation (CRD's schedule)")
    group.add_argument("--batch_size", type=int, default=64)
    group.add_argument("--epochs", type=int, default=240)
    group.add_argument("--learning_rate", type=float, default=None,
                       help=f"default {DEFAULT_LR}, or {SMALL_MODEL_LR} for {', '.join(SMALL_LR_MODELS)}")
    group.add_argument("--lr_decay_epochs", default=None,
                       help="epochs after which lr is decayed (default: CRD's 150,180,210 of 240 epochs, "
                            "scaled to --epochs)")
    group.add_argument("--lr_decay_rate", type=float, default=0.1)
    group.add_argument("--weight_decay", type=float, default=5e-4)
    group.add_argument("--momentum", type=float, default=0.9)
    group.add_argument("--epoch_factor", type=int, default=1,
                       help="multiply --epochs and --lr_decay_epochs (4: the paper's 960-epoch runs)")
    group = parser.add_argument_group("run")
    group.add_argument(*trial_flags, dest="trial", default=default_trial, help="trial id, part of the run folder's name")
    group.add_argument("--save_freq", type=int, default=40, help="keep ckpt_epoch_<E>.pth every this many epochs")
    group.add_argument("--resume", action="store_true", help="continue the run in its folder from its last epoch")
    group.add_argument("--overwrite", action="store_true", help="train again over a finished run's folder")
    return group


def finalize_training_args(opt, model_name):
    """Resolve defaults that depend on other flags and reject impossible schedules."""
    try:
        decay = default_decay_epochs(opt.epochs) if opt.lr_decay_epochs is None \
            else parse_int_list(opt.lr_decay_epochs)
    except ValueError:
        raise UsageError(f"--lr_decay_epochs '{opt.lr_decay_epochs}' is not a list like 150,180,210") from None
    if opt.learning_rate is None:
        opt.learning_rate = SMALL_MODEL_LR if model_name in SMALL_LR_MODELS else DEFAULT_LR
    for flag in ("epochs", "batch_size", "epoch_factor", "save_freq"):
        if getattr(opt, flag) <= 0:
            raise UsageError(f"--{flag} must be positive, got {getattr(opt, flag)}")
    if opt.learning_rate <= 0:
        raise UsageError(f"--learning_rate must be positive, got {opt.learning_rate}")
    if any(e <= 0 for e in decay) or any(a >= b for a, b in zip(decay, decay[1:])):
        raise UsageError(f"--lr_decay_epochs must be positive and increasing, got {opt.lr_decay_epochs}")
    for flag in ("train_subset", "test_subset"):
        if getattr(opt, flag) is not None and getattr(opt, flag) <= 1:
            raise UsageError(f"--{flag} must be at least 2, got {getattr(opt, flag)}")
    if opt.lr_decay_epochs is None and len(decay) < len(CRD_DECAY_EPOCHS) and launched_processes().is_main:
        print(f"note: {decay_collision(opt.epochs, [e * opt.epoch_factor for e in decay])}", file=sys.stderr)
    opt.epochs *= opt.epoch_factor
    opt.lr_decay_epochs = [e * opt.epoch_factor for e in decay]
    return opt


def decay_collision(epochs, decay):
    """What CRD's schedule became when scaling merged some of its decay epochs."""
    return (f"--epochs {epochs} scales CRD's lr decay epochs {_joined(CRD_DECAY_EPOCHS)} (of {CRD_EPOCHS}) onto "
            f"the same epochs, so the decay epochs are {_joined(decay)} ({len(decay)} of CRD's "
            f"{len(CRD_DECAY_EPOCHS)}); --lr_decay_epochs chooses another schedule")


def _joined(numbers):
    return ",".join(map(str, numbers))


def parse_int_list(text):
    """'150,180,210' or '[150, 180, 210]' -> [150, 180, 210]."""
    return [int(v) for v in _split_list(text)]


def parse_float_list(text):
    """'[1,0,1]' or '1,0,1' -> [1.0, 0.0, 1.0], without eval()."""
    return [float(v) for v in _split_list(text)]


def _split_list(text):
    body = text.strip()
    if body.startswith("[") and body.endswith("]"):
        body = body[1:-1]
    items = [v.strip() for v in body.split(",")]
    if not all(items):
        raise ValueError(f"'{text}' is not a comma-separated list of numbers")
    return items
