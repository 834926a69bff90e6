"""How close a KD + DA training step and the T. stddev pass come to the bare model work they need.

    python scripts/benchmark.py --out save/benchmark.json
    python scripts/benchmark.py --pairs resnet56:resnet20 --das identity cutmix_pick_T --amp --compile
    python scripts/benchmark.py --pairs "timm:resnet18->timm:vit_tiny_patch16_224(patch_size=4)"

A pair is TEACHER:STUDENT for the zoo's names, or TEACHER->STUDENT, which also takes model specs
(timm:<name>(...), torchvision:<name>(...); docs/any-model.md); their input size is 32.

On whatever device is present (--device auto), in one process, for each teacher:student pair at
--batch_size and for each DA it measures

  (a) model_ms: only the model work one KD + DA step needs, on random normalised float tensors,
      in each memory format (standard and channels-last): the teacher's no-grad forward on x and
      on x' (cutmix_pick_T: on the pool of mix_n_run * B images instead, whose logits are the
      targets of x'), the student's forwards on x and x' and one backward of a simple loss over
      both; cutmix_pick_S adds the student's no-grad forward on the pool;
  (b) step_ms: the real train_student.py step, gathering the batch from uint8 images resident on
      the device and calling helper.engine.steps.DistillStep (standard DA, normalisation, stronger DA,
      forwards, the loss with -r 0.1 -a 0.9 -b 0 --lw_mix [1,0,1] --kd_T 4, backward and the SGD
      step: lr 0.05, momentum 0.9, weight decay 5e-4) in the run's memory format; overhead = b /
      the faster format's a (target <= 1.15), and speedup = the standard format's a / b. Each
      DA's student starts from the same weights;

and for eval_da_goodness.py's data pass (helper.goodness.measurement.measure_goodness, teacher in eval mode)

  (c) the images per second it pushes through the models, counting every image the teacher (and,
      for cutmix_pick_S, the student) forwards, once per DA alone (x and x' of every batch) and
      once for all the DAs together, paired, as eval_da_goodness.py runs by default (its compute
      batch tuned at start-up, unless --goodness_compute_batch is given);
  (d) the teacher's fastest pure inference_mode throughput on this device: on random normalised
      tensors, over batch sizes 16 to --reference_max_batch (4096) and both memory formats; ratio =
      c / d (target >= 0.9).

The speed flags are train_student.py's (--channels_last: default on, --amp: bfloat16 autocast on
CUDA, --compile), and (b) and (c) run under them. Absolute images per second stand beside every
ratio, so that a slow reference cannot make a slow default look like 1.0.

Timings are medians of --repeats runs (--goodness_repeats passes for c and d) after --warmup runs,
with torch.cuda.synchronize around each run on CUDA and time.perf_counter on the CPU. What is
compared is timed in turn within every repeat (a then b; d then every pass of c), so that on a
machine shared with other work both sides of a ratio see the same load. Peak memory is torch.cuda.max_memory_allocated
(reset per measurement) on CUDA, else the process's peak RSS so far (getrusage; it never goes
down). The models are randomly initialised (timing does not depend on the weights); the images
are random uint8 tensors of CIFAR-100's shape, 100 classes. Prints a table per pair and writes
everything as JSON with --out.
"""
import argparse
import copy
import os
import platform
import resource
import statistics
import sys
import time
from types import SimpleNamespace

import torch
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from dataset.cifar import CIFAR100_MEAN, CIFAR100_STD  # noqa: E402
from distiller_zoo import DistillContext, build_distiller, probe_features  # noqa: E402
from helper.augment import DAConfig, standalone_names  # noqa: E402
from helper.cli.options import add_speed_args  # noqa: E402
from helper.cli.script import run_main, script_parser  # noqa: E402
from helper.core.errors import UsageError  # noqa: E402
from helper.core.processes import select_device  # noqa: E402
from helper.core.seeds import make_generators  # noqa: E402
from helper.core.speed import (autocast, configure_backend, fastest_batch, memory_format, prepare_model,  # noqa: E402
                               synchronize)
from helper.data.splits import DeviceSplit, Normalize  # noqa: E402
from helper.core.paper import PAPER_KD  # noqa: E402
from helper.engine.objective import Objective  # noqa: E402
from helper.engine.runtime import Runtime  # noqa: E402
from helper.engine.steps import DistillStep, Networks  # noqa: E402
from helper.goodness.compute_batch import fastest_compute_batch  # noqa: E402
from helper.goodness.measurement import measure_goodness  # noqa: E402
from helper.goodness.plan import GoodnessSettings  # noqa: E402
from helper.goodness.schemes import DA_NAMES, build_schemes  # noqa: E402
from helper.storage.pretrained import build_model  # noqa: E402
from helper.storage.run_folder import write_json  # noqa: E402
from models.external import is_external  # noqa: E402

# The paper's nine DAs, then every other DA of the registry.
BENCHMARK_DAS = list(dict.fromkeys([*DA_NAMES, *standalone_names()]))
DEFAULT_PAIRS = ("wrn_40_2:wrn_16_2", "resnet56:resnet20")
ZOO_PAIR, SPEC_PAIR = ":", "->"  # a spec holds ':' itself
NUM_CLASSES, IMAGE_SIZE, CHANNELS = 100, 32, 3  # CIFAR-100
GROUP_BATCHES = 5  # batches per T. stddev group, as the paper
# CRD's optimiser (train_student.py's defaults); the objective is the paper's KD (PAPER_KD).
SGD = {"lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4}


def parse_pair(text):
    teacher, sep, student = text.partition(SPEC_PAIR if SPEC_PAIR in text else ZOO_PAIR)
    if not sep or not teacher or not student:
        raise argparse.ArgumentTypeError(f"'{text}' is not a pair like wrn_40_2:wrn_16_2 (teacher:student) or "
                                         "timm:resnet18->timm:resnet10t (teacher->student)")
    return teacher, student


def format_pair(teacher, student):
    return f"{teacher}{SPEC_PAIR if is_external(teacher) or is_external(student) else ZOO_PAIR}{student}"


def parse_args(argv=None):
    parser = script_parser(__doc__)
    parser.add_argument("--pairs", nargs="+", type=parse_pair, default=[parse_pair(p) for p in DEFAULT_PAIRS],
                        metavar="TEACHER:STUDENT", help=f"or TEACHER->STUDENT with model specs; default: {' '.join(DEFAULT_PAIRS)}")
    parser.add_argument("--das", nargs="+", default=BENCHMARK_DAS, metavar="DA",
                        help=f"DA specs (default: {' '.join(BENCHMARK_DAS)})")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs before each measurement")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per measurement (the median is kept)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present, else CPU), cpu, cuda, cuda:1, ...")
    parser.add_argument("--train_size", type=int, default=50000,
                        help="random uint8 training images resident on the device (CIFAR-100: 50000)")
    parser.add_argument("--goodness_batches", type=int, default=80,
                        help=f"batches of --batch_size per T. stddev pass, whole groups of {GROUP_BATCHES}")
    parser.add_argument("--goodness_compute_batch", type=int, default=None,
                        help="at most this many images per teacher forward (eval_da_goodness.py --compute_batch; "
                             "default: as there, the fastest on this device)")
    parser.add_argument("--goodness_repeats", type=int, default=3, help="timed T. stddev passes per measurement")
    parser.add_argument("--reference_max_batch", type=int, default=4096,
                        help="largest batch size tried for the teacher's best inference rate (from 16)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, metavar="FILE.json", help="write the results here")
    add_speed_args(parser)  # --channels_last/--no_channels_last, --amp, --compile, as train_student.py
    opt = parser.parse_args(argv)
    for name in ("batch_size", "repeats", "train_size", "goodness_compute_batch", "goodness_repeats",
                 "reference_max_batch"):
        if getattr(opt, name) is not None and getattr(opt, name) < 1:
            raise UsageError(f"--{name} must be positive, got {getattr(opt, name)}")
    if opt.warmup < 0:
        raise UsageError(f"--warmup must be >= 0, got {opt.warmup}")
    if opt.batch_size < 2 or opt.train_size < opt.batch_size:
        raise UsageError("--batch_size must be at least 2 and at most --train_size")
    if opt.goodness_batches % GROUP_BATCHES or opt.goodness_batches < 2 * GROUP_BATCHES:
        raise UsageError(f"--goodness_batches must be a multiple of {GROUP_BATCHES}, at least "
                         f"{2 * GROUP_BATCHES} (two groups), got {opt.goodness_batches}")
    build_schemes(opt.das, DAConfig(IMAGE_SIZE), have_student=True)  # refuses unknown DA names
    opt.das = list(dict.fromkeys(opt.das))
    return opt


# ----------------------------------------------------------------------------- measuring

def peak_memory_kind(device):
    if device.type == "cuda":
        return "torch.cuda.max_memory_allocated, reset per measurement"
    return "process peak RSS (resource.getrusage ru_maxrss), cumulative: never reset"


def reset_peak_memory(device):
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device):
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def timed_run(fn, device):
    """Wall seconds and peak memory (MiB) of one call of ``fn``."""
    reset_peak_memory(device)
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start, peak_memory_mb(device)


def interleaved(fns, warmup, repeats, device):
    """(median seconds, largest peak memory in MiB) of each function over ``repeats`` runs after
    ``warmup`` untimed ones. Every repeat runs all of them in turn, so that on a shared machine
    the quantities compared with each other see the same load."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    runs = [[timed_run(fn, device) for fn in fns] for _ in range(repeats)]
    return [(statistics.median(r[i][0] for r in runs), max(r[i][1] for r in runs)) for i in range(len(fns))]


def device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# ----------------------------------------------------------------------------- the models

class ImageCounter(nn.Module):
    """A model that counts the images of every forward it makes (outside any compiled graph)."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.images = 0
        self.train(model.training)  # so that restoring this wrapper's mode restores the model's

    def forward(self, x, *args, **kwargs):
        self.images += x.shape[0]
        return self.model(x, *args, **kwargs)


def build_pair(teacher_name, student_name, opt, device):
    """Randomly initialised teacher (eval mode, frozen) and student (train mode), prepared for speed."""
    models = []
    for name in (teacher_name, student_name):
        model = build_model(name, NUM_CLASSES, IMAGE_SIZE).to(device)
        models.append(prepare_model(model, opt.channels_last, opt.compile))
    teacher, student = models
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    student.train()
    return teacher, student


def random_inputs(n, opt, device, channels_last=None):
    """n random images as the models receive them: normalised floats in the run's memory format
    (or the one `channels_last` asks for)."""
    layout = opt.channels_last if channels_last is None else channels_last
    return torch.randn(n, CHANNELS, IMAGE_SIZE, IMAGE_SIZE, device=device).contiguous(
        memory_format=memory_format(layout))


LAYOUTS = {"contiguous": False, "channels_last": True}


def in_layout(model, channels_last):
    """A copy of `model` in a memory format, in the same train/eval mode."""
    return copy.deepcopy(model).to(memory_format=memory_format(channels_last))


# ----------------------------------------------------------------------------- (a) and (b)

def model_work(teacher, student, scorer, pool_size, opt, device, channels_last):
    """The forwards and the backward one step needs (a), for a DA whose pool is scored by
    ``scorer`` (None, "teacher" or "student"), as a function of no arguments, with the models and
    inputs in one memory format."""
    b = opt.batch_size
    teacher, student = in_layout(teacher, channels_last), in_layout(student, channels_last)
    x, view = random_inputs(b, opt, device, channels_last), random_inputs(b, opt, device, channels_last)
    pool = random_inputs(pool_size, opt, device, channels_last)

    def work():
        with autocast(device, opt.amp):  # as DistillStep: the forwards and the loss, not the backward
            if scorer is not None:
                with torch.no_grad():  # scoring the pool; the teacher's logits serve as x' targets
                    (teacher if scorer == "teacher" else student)(pool)
            with torch.no_grad():
                teacher(x, is_feat=True)
            _, logit_s = student(x, is_feat=True)
            logit_view = student(view)
            if scorer != "teacher":
                with torch.no_grad():
                    teacher(view)
            loss = logit_s.float().mean() + logit_view.float().mean()
        student.zero_grad(set_to_none=True)
        loss.backward()
    return work


def distill_step(teacher, student, scheme, config, normalize, opt, device):
    """train_student.py's DistillStep for ``scheme`` with the paper's KD settings."""
    feat_s, feat_t = probe_features(student, teacher, random_inputs(2, opt, device))
    distiller = build_distiller("kd", DistillContext(feat_s, feat_t, torch.zeros(0, dtype=torch.long),
                                                     SimpleNamespace(**PAPER_KD, logit_stand=False))).to(device)
    objective = Objective(PAPER_KD["gamma"], PAPER_KD["alpha"], PAPER_KD["beta"], PAPER_KD["lw_mix"], PAPER_KD["kd_T"])
    optimizer = torch.optim.SGD(list(student.parameters()) + list(distiller.parameters()), **SGD)
    generator = make_generators(opt.seed)["augment"]
    return DistillStep(Networks(student, teacher, distiller), objective, scheme.augmentation, optimizer,
                       Runtime(normalize, opt.amp), generator, pick_by_student=scheme.scorer == "student")


def real_step(step, split, opt):
    """One train_student.py step (b): gather and standard-augment a batch on the device, then DistillStep, as a
    function of no arguments. The index batches are drawn beforehand, as epoch_batches does."""
    generator = torch.Generator().manual_seed(opt.seed)
    n_steps = opt.warmup + opt.repeats
    order = torch.cat([torch.randperm(len(split), generator=generator)
                       for _ in range(-(-n_steps * opt.batch_size // len(split)))])
    batches = iter(order[:n_steps * opt.batch_size].view(n_steps, opt.batch_size))

    def run():
        step(*split.batch(next(batches), step.generator), 1)
    return run


def benchmark_steps(teacher, student, schemes, config, split, normalize, opt, device):
    """(a) in each memory format and (b) for every DA, interleaved run by run; each DA's student
    starts from the same weights. The step's overhead is against the faster format's model work
    (the best the device allows); its speedup against the standard format's, PyTorch's default."""
    initial = copy.deepcopy(student.state_dict())
    results = {}
    for scheme in schemes:
        student.load_state_dict(initial)
        pool = scheme.augmentation.n_run * opt.batch_size if scheme.scorer else 0  # the picked pool
        works = [model_work(teacher, student, scheme.scorer, pool, opt, device, layout) for layout in LAYOUTS.values()]
        step = real_step(distill_step(teacher, student, scheme, config, normalize, opt, device), split, opt)
        *model_runs, (step_s, peak) = interleaved(works + [step], opt.warmup, opt.repeats, device)
        model_ms = {name: 1000 * seconds for name, (seconds, _) in zip(LAYOUTS, model_runs)}
        best = min(model_ms, key=model_ms.get)
        results[scheme.name] = {"model_ms": model_ms, "model_best_layout": best, "step_ms": 1000 * step_s,
                                "overhead": 1000 * step_s / model_ms[best],
                                "speedup_vs_contiguous_model": model_ms["contiguous"] / (1000 * step_s),
                                "images_per_s": opt.batch_size / step_s,
                                "model_best_images_per_s": 1000 * opt.batch_size / model_ms[best],
                                "peak_memory_mb": peak}
    student.load_state_dict(initial)
    return results


# ----------------------------------------------------------------------------- (c) and (d)

def goodness_settings(opt, n_batches, compute_batch):
    return GoodnessSettings(n_groups=n_batches // GROUP_BATCHES, group_batches=GROUP_BATCHES,
                            batch_size=opt.batch_size, compute_batch=compute_batch, seed=opt.seed)


def goodness_pass(teacher, student, split, normalize, schemes, settings, config, opt, device):
    """One measure_goodness pass; returns the images the teacher and the student forwarded."""
    counted_t = ImageCounter(teacher)
    counted_s = ImageCounter(student) if any(s.scorer == "student" for s in schemes) else None
    with autocast(device, opt.amp):
        measure_goodness(counted_t, split, normalize, schemes, settings, counted_s)
    return counted_t.images, counted_s.images if counted_s is not None else 0


def pass_compute_batch(teacher, split, normalize, opt, device):
    """--goodness_compute_batch, or what eval_da_goodness.py picks by default: the fastest here."""
    if opt.goodness_compute_batch is not None:
        return opt.goodness_compute_batch, {}

    def forward(images):
        with autocast(device, opt.amp):
            return teacher(normalize(images))
    return fastest_compute_batch(forward, split, opt.batch_size)


# Batch sizes and memory formats over which the teacher's best inference rate, the reference of
# the T. stddev pass, is searched: 16, 32, ... up to --reference_max_batch.
SMALLEST_REFERENCE_BATCH = 16


def best_inference(teacher, opt, device):
    """The teacher's fastest inference_mode forward over batch sizes and memory formats: (layout,
    batch size, images/s, {layout: {size: images/s}})."""
    tried, best = {}, None
    for name, channels_last in LAYOUTS.items():
        model = in_layout(teacher, channels_last)

        def forward(images):
            with autocast(device, opt.amp):
                return model(images)
        sizes = [SMALLEST_REFERENCE_BATCH * 2 ** k for k in range(12)
                 if SMALLEST_REFERENCE_BATCH * 2 ** k <= opt.reference_max_batch]
        size, rates = fastest_batch(forward, lambda n: random_inputs(n, opt, device, channels_last), sizes)
        tried[name] = rates
        if best is None or rates[size] > best[2]:
            best = (name, size, rates[size])
    return (*best, tried)


def benchmark_goodness(teacher, student, schemes, config, split, normalize, opt, device):
    """(c) for each DA alone and for all of them paired, at eval_da_goodness.py's compute batch,
    and (d), the teacher's inference at its best batch size and memory format, interleaved pass by
    pass after a warm-up (a pass of two batches over all the DAs)."""
    compute_batch, compute_rates = pass_compute_batch(teacher, split, normalize, opt, device)
    layout, batch, _, tried = best_inference(teacher, opt, device)
    model, x = in_layout(teacher, LAYOUTS[layout]), random_inputs(batch, opt, device, LAYOUTS[layout])

    def inference():  # (d)
        with torch.inference_mode(), autocast(device, opt.amp):
            model(x)

    def pass_of(members, settings, counts):
        def run():
            counts.append(goodness_pass(teacher, student, split, normalize, members, settings, config, opt, device))
        return run

    pass_of(schemes, GoodnessSettings(n_groups=2, group_batches=1, batch_size=opt.batch_size,
                                      compute_batch=compute_batch, seed=opt.seed), [])()
    settings = goodness_settings(opt, opt.goodness_batches, compute_batch)
    passes = {s.name: [s] for s in schemes}
    passes["paired"] = list(schemes)
    counts = {name: [] for name in passes}
    timings = interleaved([inference] + [pass_of(members, settings, counts[name]) for name, members in passes.items()],
                          0, opt.goodness_repeats, device)
    inference_per_s = len(x) / timings[0][0]
    results = {}
    for (name, counted), (seconds, peak) in zip(counts.items(), timings[1:]):
        teacher_images, student_images = counted[-1]  # the same in every pass
        images_per_s = (teacher_images + student_images) / seconds
        results[name] = {"teacher_images": teacher_images, "student_images": student_images, "seconds": seconds,
                         "images_per_s": images_per_s, "teacher_inference_images_per_s": inference_per_s,
                         "ratio": images_per_s / inference_per_s, "peak_memory_mb": peak}
    paired = results.pop("paired")
    return {"compute_batch": compute_batch, "compute_batch_images_per_s": {str(k): v for k, v in compute_rates.items()},
            "inference_batch": batch, "inference_layout": layout, "teacher_inference_images_per_s": inference_per_s,
            "inference_tried": {name: {str(k): v for k, v in rates.items()} for name, rates in tried.items()},
            "per_da": results, "paired": paired}


# ----------------------------------------------------------------------------- the run

def benchmark_pair(teacher_name, student_name, opt, device):
    torch.manual_seed(opt.seed)
    teacher, student = build_pair(teacher_name, student_name, opt, device)
    config = DAConfig(IMAGE_SIZE, mean=CIFAR100_MEAN)
    schemes = build_schemes(opt.das, config, have_student=True)
    images = torch.randint(0, 256, (opt.train_size, CHANNELS, IMAGE_SIZE, IMAGE_SIZE), dtype=torch.uint8)
    split = DeviceSplit(images, torch.randint(0, NUM_CLASSES, (opt.train_size,)), device)
    normalize = Normalize(CIFAR100_MEAN, CIFAR100_STD, device, memory_format(opt.channels_last))
    das = benchmark_steps(teacher, student, schemes, config, split, normalize, opt, device)
    goodness = benchmark_goodness(teacher, student, schemes, config, split, normalize, opt, device)
    return {"teacher": teacher_name, "student": student_name, "das": das, "goodness": goodness}


def format_table(key, pair, opt):
    goodness = pair["goodness"]
    lines = [f"{key}  (batch {opt.batch_size}; T. stddev compute batch {goodness['compute_batch']}; teacher's best "
             f"inference {goodness['teacher_inference_images_per_s']:.0f} images/s at batch "
             f"{goodness['inference_batch']}, {goodness['inference_layout']})",
             f"{'DA':<15} {'model ms':>14} {'step ms':>8} {'b/a':>6} {'a_std/b':>7} {'step img/s':>10} "
             f"{'peak MB':>8}   {'T.std img/s':>11} {'c/d':>6}"]
    for name, r in pair["das"].items():
        g = goodness["per_da"][name]
        model = "/".join(f"{r['model_ms'][layout]:.0f}" for layout in LAYOUTS)
        lines.append(f"{name:<15} {model:>14} {r['step_ms']:>8.1f} {r['overhead']:>6.3f} "
                     f"{r['speedup_vs_contiguous_model']:>7.3f} {r['images_per_s']:>10.0f} {r['peak_memory_mb']:>8.0f}   "
                     f"{g['images_per_s']:>11.0f} {g['ratio']:>6.3f}")
    paired = goodness["paired"]
    lines.append(f"{'paired (all)':<15} {'':>14} {'':>8} {'':>6} {'':>7} {'':>10} {paired['peak_memory_mb']:>8.0f}   "
                 f"{paired['images_per_s']:>11.0f} {paired['ratio']:>6.3f}")
    lines.append("model ms: the bare model work in the standard / channels-last memory format; b/a: the step "
                 "against the faster; a_std/b: the step's speedup over the standard format's model work")
    return "\n".join(lines)


def main(argv=None):
    opt = parse_args(argv)
    device = select_device(opt.device)
    configure_backend(device)
    record = {"device": {"type": device.type, "name": device_name(device)},
              "threads": torch.get_num_threads(), "torch": torch.__version__,
              "load_average_start": list(os.getloadavg()), "peak_memory": peak_memory_kind(device),
              "settings": {**{k: v for k, v in vars(opt).items() if k not in ("pairs", "out")},
                           "pairs": [format_pair(t, s) for t, s in opt.pairs],
                           "amp_active": opt.amp, "kd": PAPER_KD, "sgd": SGD,
                           "goodness_group_batches": GROUP_BATCHES},
              "pairs": {}}
    for teacher_name, student_name in opt.pairs:
        key = f"{teacher_name}->{student_name}"
        print(f"benchmarking {key} on {record['device']['name']} ...", flush=True)
        record["pairs"][key] = benchmark_pair(teacher_name, student_name, opt, device)
    record["load_average_end"] = list(os.getloadavg())
    if opt.out:
        os.makedirs(os.path.dirname(os.path.abspath(opt.out)), exist_ok=True)
        write_json(opt.out, record)
    print(f"\n{record['device']['name']} ({device.type}, {record['threads']} threads, torch {record['torch']}); "
          f"load average {record['load_average_start'][0]:.2f} at start, {record['load_average_end'][0]:.2f} "
          f"at end; peak memory: {record['peak_memory']}")
    for key, pair in record["pairs"].items():
        print()
        print(format_table(key, pair, opt))
    return record


if __name__ == "__main__":
    run_main(main)
