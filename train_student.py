"""Knowledge distillation with a stronger data augmentation on top of the standard one.

    python train_student.py --path_t save/models/vgg13_vanilla/ckpt_epoch_240.pth \\
        --distill kd --model_s vgg8 -r 0.1 -a 0.9 -b 0 --t_output_as_target_for_input_mix \\
        --lw_mix [1,0,1] --mix_mode cutmix_pick --mix_n_run 2 --cutmix_pick_criterion teacher_entropy \\
        --project kd__vgg13vgg8__cifar100__cutmix_pick_Tentropy
"""
import os
import sys

import torch

from distiller_zoo import DISTILLERS, DistillContext, build_distiller, probe_features
from distiller_zoo.options import add_logit_args, check_logit_args, kl_term
from helper.augment import build_augmentation, canonical_da, da_help, da_record
from helper.cli.da_options import add_da_args, check_da_args, da_config
from helper.cli.options import (add_data_args, add_speed_args, add_teacher_args, add_training_args, check_teacher_args,
                                finalize_training_args, parse_float_list, run_settings)
from helper.cli.script import run_main, script_parser
from helper.core.errors import UsageError
from helper.core.processes import init_processes
from helper.core.seeds import make_generators, seed_everything
from helper.core.speed import configure_backend, prepare_model
from helper.data.device_data import load_device_data
from helper.engine.loop import evaluate, evaluate_metrics, run_epoch
from helper.engine.objective import Objective
from helper.engine.run import Training
from helper.engine.runtime import Runtime
from helper.engine.steps import DistillStep, InitStep, Networks
from helper.storage.pretrained import build_model, load_teacher
from helper.storage.run_folder import prepare_run_folder
from models.external import folder_label

PICK_CRITERIA = {"teacher_entropy": "cutmix_pick_T", "student_entropy": "cutmix_pick_S"}
PICK_BY = {"teacher_entropy": "teacher", "student_entropy": "student"}


def da_name(mix_mode, criterion):
    """The DA's name in the paper's tables and in eval_da_goodness.py (cutmix_pick_T / _S)."""
    return PICK_CRITERIA[criterion] if mix_mode == "cutmix_pick" else mix_mode


def parse_args(argv=None):
    parser = script_parser(__doc__)
    group = add_teacher_args(parser)
    group.add_argument("--model_s", default="resnet8", help="student architecture: a zoo name or a spec "
                       "such as timm:vit_tiny_patch16_224(img_size=32,patch_size=4) (docs/any-model.md)")
    group.add_argument("--model_path", default="./save/student_model", help="where run folders are created")
    group.add_argument("--project", default=None, help="run name (default: derived from the settings)")
    group = parser.add_argument_group("distillation")
    group.add_argument("--distill", default="kd", choices=list(DISTILLERS))
    # RepDistiller's and Good-DA-in-KD's defaults, so that their commands optimise what they do there
    group.add_argument("-r", "--gamma", type=float, default=1, help="weight of CE on the labels")
    group.add_argument("-a", "--alpha", type=float, default=0, help="weight of the KD terms")
    group.add_argument("-b", "--beta", type=float, default=0, help="weight of the --distill method's loss")
    group.add_argument("--kd_T", type=float, default=4, help="KD temperature")
    group.add_argument("--feat_dim", type=int, default=128, help="CRD embedding size")
    group.add_argument("--nce_k", type=int, default=16384, help="CRD negatives per positive")
    group.add_argument("--nce_t", type=float, default=0.07, help="CRD temperature")
    group.add_argument("--nce_m", type=float, default=0.5, help="CRD memory momentum")
    group.add_argument("--hint_layer", type=int, default=2, choices=range(5), help="FitNet feature index")
    group.add_argument("--init_epochs", type=int, default=30, help="init phase of abound, factor, fsp")
    add_logit_args(parser)
    group = parser.add_argument_group("stronger data augmentation")
    group.add_argument("--mix_mode", default="identity", help=da_help())
    group.add_argument("--lw_mix", default=None,
                       help="weights of KL on x, CE on the mixed labels of x', KL on x' (the paper: [1,0,1]); "
                            "without it there is no x' and the KD term is KL on x alone, as in the original code")
    group.add_argument("--t_output_as_target_for_input_mix", action="store_true",
                       help="accepted for the original commands: the teacher's output on x' is always the target")
    group.add_argument("--cutmix_pick_criterion", default="teacher_entropy", choices=list(PICK_CRITERIA))
    add_da_args(group)
    add_data_args(parser)
    add_training_args(parser, default_trial="1")
    add_speed_args(parser)
    opt = check_da_args(check_teacher_args(parser.parse_args(argv)))
    opt.lw_mix = parse_lw_mix(opt.lw_mix)
    opt.mix_mode = canonical_da(opt.mix_mode)  # recorded and named canonically
    build_augmentation(opt.mix_mode, make_da_config(opt, 32))  # refuses impossible combinations now
    check_logit_args(opt)
    return finalize_training_args(opt, opt.model_s)


def make_da_config(opt, image_size, mean=None):
    return da_config(opt, image_size, mean, PICK_BY[opt.cutmix_pick_criterion])


def parse_lw_mix(text):
    """--lw_mix as (KL on x, CE on mixed labels of x', KL on x'); None: plain KD on x, no view."""
    if text is None:
        return None
    try:
        weights = parse_float_list(text)
    except ValueError:
        raise UsageError(f"--lw_mix '{text}' must be three numbers like [1,0,1]") from None
    if len(weights) != 3:
        raise UsageError(f"--lw_mix needs three weights (KL on x, CE on mixed labels of x', KL on x'), "
                         f"got {len(weights)}")
    return weights


def run_identity(opt, num_classes, teacher_arch, teacher_acc, objective=None):
    """What a student run's checkpoints and summary.json record of it (scripts/summarize.py reads it).
    ``objective``: the run's (needed with --method_as_kl, whose KL_T is the distiller's)."""
    objective = objective or build_objective(opt)
    return {"arch": opt.model_s, "num_classes": num_classes, "dataset": opt.dataset, "teacher_arch": teacher_arch,
            "distill": opt.distill, "mix_mode": opt.mix_mode, "da": da_name(opt.mix_mode, opt.cutmix_pick_criterion),
            "da_spec": da_record(opt.mix_mode), "teacher_test_acc": teacher_acc, "path_t": opt.path_t,
            "objective": objective.weights()}


def build_objective(opt, distiller=None):
    """The objective of the flags; with --method_as_kl its KL_T is the distiller's logit loss."""
    return Objective(opt.gamma, opt.alpha, opt.beta, opt.lw_mix, opt.kd_T, logit_loss=kl_term(opt, distiller))


def objective_warnings(opt, distiller):
    """Settings that are legal, as in the original code, but rarely what a user means."""
    if opt.lw_mix is None and opt.mix_mode != "identity" and not (distiller.needs_view and opt.beta):
        yield (f"--mix_mode {opt.mix_mode} has no effect without --lw_mix (as in the original code); "
               "the paper's objective adds --lw_mix [1,0,1]")
    if opt.method_as_kl:
        if opt.alpha == 0:
            yield f"-a is 0, so the {opt.distill} loss that --method_as_kl puts in the KD terms is off"
    elif opt.beta == 0 and distiller.default_beta:
        yield (f"-b is 0, so the {opt.distill} loss is off; its reference commands train it with "
               f"-b {distiller.default_beta:g}")
    if opt.alpha == 0 and opt.gamma == 1 and opt.beta == 0:
        yield "-a and -b are 0: this trains the student on the labels alone (RepDistiller's defaults)"


def run_name(opt, teacher_arch):
    name = opt.project or (f"S-{folder_label(opt.model_s)}_T-{folder_label(teacher_arch)}_{opt.dataset}_{opt.distill}_{opt.mix_mode}"
                           f"_r-{opt.gamma}_a-{opt.alpha}_b-{opt.beta}")
    return f"{name}_trial_{opt.trial}"


def main(argv=None):
    opt = parse_args(argv)
    seed_everything(opt.seed)
    processes, device = init_processes(opt.device)
    configure_backend(device)
    data = load_device_data(opt, device, processes)
    train, test, normalize = data.train, data.test, data.normalize
    runtime = Runtime(normalize, opt.amp, processes)
    teacher, teacher_arch, _ = load_teacher(opt, data.num_classes, device, data.image_size)
    for p in teacher.parameters():
        p.requires_grad_(False)
    teacher = prepare_model(teacher, opt.channels_last, opt.compile)
    student = prepare_model(build_model(opt.model_s, data.num_classes, data.image_size).to(device), opt.channels_last, opt.compile)
    # a sample batch tells the distiller its feature shapes, as CRD does
    feat_s, feat_t = probe_features(student, teacher, normalize(train.probe(2)))
    distiller = build_distiller(opt.distill, DistillContext(feat_s, feat_t, train.labels, opt, processes))
    distiller = processes.global_batchnorm(distiller.to(device))  # its regressors' BatchNorm layers
    objective = build_objective(opt, distiller)
    if processes.is_main:
        for warning in objective_warnings(opt, distiller):
            print(f"note: {warning}", file=sys.stderr)

    folder = os.path.join(opt.model_path, run_name(opt, teacher_arch))
    prepare_run_folder(folder, resume=opt.resume, overwrite=opt.overwrite)
    teacher_result = evaluate_metrics(teacher, test, runtime)
    teacher_acc = teacher_result["test_acc"]
    if processes.is_main:
        print(f"teacher {teacher_arch}: test accuracy {teacher_acc:.2f}% (top-5 "
              f"{teacher_result['test_acc5']:.2f}%), loss {teacher_result['test_loss']:.4f}")

    da_config = make_da_config(opt, data.image_size, data.mean)
    augmentation = build_augmentation(opt.mix_mode, da_config)
    generators = make_generators(opt.seed)
    trained = processes.wrap(student)
    optimizer = torch.optim.SGD(list(trained.parameters()) + list(distiller.parameters()),
                                lr=opt.learning_rate, momentum=opt.momentum, weight_decay=opt.weight_decay)
    identity = run_identity(opt, data.num_classes, teacher_arch, teacher_acc, objective)
    training = Training(folder, opt, {"model": student, "distiller": distiller}, optimizer,
                        generators, identity, run_settings(opt), processes)
    if opt.resume and training.resume():
        if processes.is_main:
            print(f"resuming {folder} at epoch {training.start_epoch}")
    elif distiller.init_epochs:
        run_init_phase(Networks(student, teacher, distiller), train, runtime, opt, generators)

    step = DistillStep(Networks(trained, teacher, distiller), objective, augmentation, optimizer, runtime,
                       generators["stronger_da"], pick_by_student=augmentation.scored_by == "student")
    summary = training.fit(
        lambda epoch: run_epoch(step, train, opt.batch_size, generators, epoch, opt.epochs),
        lambda: evaluate(student, test, runtime), best_name=f"{folder_label(opt.model_s)}_best.pth")
    if processes.is_main:
        print(f"done: last test loss {summary['last_test_loss']:.4f} (S. test loss), last accuracy "
              f"{summary['last_test_acc']:.2f}%, best {summary['best_test_acc']:.2f}%; run folder {folder}")
    return summary


def run_init_phase(networks, train, runtime, opt, generators):
    """CRD's initialisation for abound, factor and fsp, with its own SGD on the init parameters;
    with several processes, data-parallel as the main phase."""
    distiller = networks.distiller
    modules = distiller.init_modules(networks.student)
    optimizer = torch.optim.SGD([p for m in modules for p in m.parameters()], lr=distiller.init_learning_rate(opt),
                                momentum=opt.momentum, weight_decay=opt.weight_decay)
    step = InitStep(networks, modules, optimizer, runtime)
    for epoch in range(1, distiller.init_epochs + 1):
        loss = run_epoch(step, train, opt.batch_size, generators, epoch, distiller.init_epochs, phase="init")
        if runtime.processes.is_main:
            print(f"init epoch {epoch}/{distiller.init_epochs}  loss {loss['train_loss']:.4f}")


if __name__ == "__main__":
    run_main(main)
