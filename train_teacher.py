"""Train a teacher (or a student from scratch) with cross-entropy, CRD's schedule and standard DA.

    python train_teacher.py --model resnet32x4 --dataset cifar100 --data_folder ./data
    python train_teacher.py --dataset digits --model resnet8 --epochs 15      # offline, CPU
    python train_teacher.py --evaluate save/models/resnet56_vanilla/ckpt_epoch_240.pth
"""
import os

import torch

from helper.cli.options import add_data_args, add_speed_args, add_training_args, finalize_training_args, run_settings
from helper.cli.script import run_main, script_parser
from helper.core.processes import init_processes
from helper.core.seeds import STANDARD_STREAMS, make_generators, seed_everything
from helper.core.speed import configure_backend, prepare_model
from helper.data.device_data import load_device_data
from helper.engine.loop import evaluate, evaluate_checkpoint, run_epoch
from helper.engine.run import Training
from helper.engine.runtime import Runtime
from helper.engine.steps import CrossEntropyStep
from helper.storage.pretrained import build_model
from helper.storage.run_folder import prepare_run_folder
from models.external import folder_label


def parse_args(argv=None):
    parser = script_parser(__doc__)
    parser.add_argument("--model", default="resnet110", help="architecture: a name of models.model_dict, "
                        "or a spec such as timm:vit_tiny_patch16_224(img_size=32,patch_size=4) (docs/any-model.md)")
    parser.add_argument("--model_path", default="./save/models", help="where run folders are created")
    parser.add_argument("--evaluate", metavar="CKPT", default=None,
                        help="print the test accuracy and loss of a checkpoint and exit")
    add_data_args(parser)
    add_training_args(parser, trial_flags=("-t", "--trial"), default_trial="0")
    add_speed_args(parser)
    opt = parser.parse_args(argv)
    return finalize_training_args(opt, opt.model)


def run_folder_name(opt):
    return (f"{folder_label(opt.model)}_{opt.dataset}_lr_{opt.learning_rate}_decay_{opt.weight_decay}"
            f"_trial_{opt.trial}")


def report_checkpoint(opt, device):
    data = load_device_data(opt, device)
    # The architecture comes from the checkpoint or its folder; --model only if neither tells.
    result, arch = evaluate_checkpoint(opt.evaluate, data, opt.channels_last, opt.amp, fallback_arch=opt.model)
    print(f"{opt.evaluate}: {arch} on {opt.dataset} test ({len(data.test)} images): "
          f"accuracy {result['test_acc']:.2f}% (top-5 {result['test_acc5']:.2f}%)  "
          f"loss {result['test_loss']:.4f}")
    return result['test_acc'], result['test_loss']


def main(argv=None):
    opt = parse_args(argv)
    seed_everything(opt.seed)
    processes, device = init_processes(opt.device)
    configure_backend(device)
    if opt.evaluate:
        return report_checkpoint(opt, device)
    folder = os.path.join(opt.model_path, run_folder_name(opt))
    prepare_run_folder(folder, resume=opt.resume, overwrite=opt.overwrite)
    data = load_device_data(opt, device, processes)
    model = prepare_model(build_model(opt.model, data.num_classes, data.image_size).to(device), opt.channels_last, opt.compile)
    trained = processes.wrap(model)
    optimizer = torch.optim.SGD(trained.parameters(), lr=opt.learning_rate, momentum=opt.momentum,
                                weight_decay=opt.weight_decay)
    generators = make_generators(opt.seed, STANDARD_STREAMS)
    identity = {"arch": opt.model, "num_classes": data.num_classes, "dataset": opt.dataset}
    training = Training(folder, opt, {"model": model}, optimizer, generators, identity, run_settings(opt), processes)
    if opt.resume and training.resume() and processes.is_main:
        print(f"resuming {folder} at epoch {training.start_epoch}")
    runtime = Runtime(data.normalize, opt.amp, processes)
    step = CrossEntropyStep(trained, optimizer, runtime)
    summary = training.fit(
        lambda epoch: run_epoch(step, data.train, opt.batch_size, generators, epoch, opt.epochs),
        lambda: evaluate(model, data.test, runtime), best_name=f"{folder_label(opt.model)}_best.pth")
    if processes.is_main:
        print(f"done: last test accuracy {summary['last_test_acc']:.2f}%, best {summary['best_test_acc']:.2f}%; "
              f"run folder {folder}")
    return summary


if __name__ == "__main__":
    run_main(main)
