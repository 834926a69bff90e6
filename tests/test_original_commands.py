"""The commands of RepDistiller's README and scripts/run_cifar_distill.sh and of Good-DA-in-KD's
README and scripts optimise here exactly the objective they optimise there.

Each expected objective below is read off the original code, not ours: RepDistiller's
train_student.py adds gamma * CE + alpha * KL(x) + beta * other; Good-DA-in-KD's helper/loops.py
does the same without --lw_mix, and with --lw_mix [l1,l2,l3] replaces KL(x) by
l1 * KL(x) + l2 * CE_mix(x') + l3 * KL(x'). Terms: ce, kl_x, ce_mix_view, kl_view, other."""
import shlex

import pytest

import train_student

TEACHER = "./save/models/resnet32x4_vanilla/ckpt_epoch_240.pth"
REPDISTILLER = [  # (command, CE, KL on x, other)
    (f"--path_t {TEACHER} --distill kd --model_s resnet8x4 -r 0.1 -a 0.9 -b 0 --trial 1", 0.1, 0.9, 0),
    (f"--path_t {TEACHER} --distill hint --model_s resnet8x4 -a 0 -b 100 --trial 1", 1, 0, 100),
    (f"--path_t {TEACHER} --distill attention --model_s resnet8x4 -a 0 -b 1000 --trial 1", 1, 0, 1000),
    (f"--path_t {TEACHER} --distill similarity --model_s resnet8x4 -a 0 -b 3000 --trial 1", 1, 0, 3000),
    (f"--path_t {TEACHER} --distill correlation --model_s resnet8x4 -a 0 -b 0.02 --trial 1", 1, 0, 0.02),
    (f"--path_t {TEACHER} --distill vid --model_s resnet8x4 -a 0 -b 1 --trial 1", 1, 0, 1),
    (f"--path_t {TEACHER} --distill rkd --model_s resnet8x4 -a 0 -b 1 --trial 1", 1, 0, 1),
    (f"--path_t {TEACHER} --distill pkt --model_s resnet8x4 -a 0 -b 30000 --trial 1", 1, 0, 30000),
    (f"--path_t {TEACHER} --distill abound --model_s resnet8x4 -a 0 -b 1 --trial 1", 1, 0, 1),
    (f"--path_t {TEACHER} --distill factor --model_s resnet8x4 -a 0 -b 200 --trial 1", 1, 0, 200),
    (f"--path_t {TEACHER} --distill fsp --model_s resnet8x4 -a 0 -b 50 --trial 1", 1, 0, 50),
    (f"--path_t {TEACHER} --distill nst --model_s resnet8x4 -a 0 -b 50 --trial 1", 1, 0, 50),
    (f"--path_t {TEACHER} --distill crd --model_s resnet8x4 -a 0 -b 0.8 --trial 1", 1, 0, 0.8),
    (f"--path_t {TEACHER} --distill crd --model_s resnet8x4 -a 1 -b 0.8 --trial 1", 1, 1, 0.8),
]
GOOD_DA = "--path_t ./save/models/vgg13_vanilla/ckpt_epoch_240.pth --distill kd --model_s vgg8 -r 0.1 -a 0.9 -b 0 " \
          "--t_output_as_target_for_input_mix --lw_mix [1,0,1]"
GOOD_DA_COMMANDS = [f"{GOOD_DA} --mix_mode {mode} --project kd__vgg13vgg8__cifar100__{mode}"
                    for mode in ("identity", "flip", "crop+flip", "cutout", "autoaugment", "mixup", "cutmix")] + [
    f"{GOOD_DA} --mix_mode cutmix_pick --mix_n_run 2 --cutmix_pick_criterion {c} --project p" for c in
    ("student_entropy", "teacher_entropy")] + [
    "--dataset tinyimagenet --path_t ./save/models_tinyimagenet_v2/wrn_40_2_vanilla/ckpt_epoch_240.pth "
    "--distill kd --model_s wrn_16_2 -r 0.1 -a 0.9 -b 0 --t_output_as_target_for_input_mix --lw_mix [1,0,1] "
    "--mix_mode mixup --project p"]


def recorded_objective(command):
    """The objective weights train_student.py records (summary.json's "objective") for a command."""
    return train_student.build_objective(train_student.parse_args(shlex.split(command))).weights()


@pytest.mark.parametrize("command, ce, kl, other", REPDISTILLER)
def test_repdistiller_commands(command, ce, kl, other):
    assert recorded_objective(command) == {"ce": ce, "kl_x": kl, "ce_mix_view": 0, "kl_view": 0, "other": other,
                                           "kd_T": 4}


@pytest.mark.parametrize("command", GOOD_DA_COMMANDS)
def test_good_da_in_kd_commands(command):
    # 0.1 CE + 0.9 * (1 * KL(x) + 0 * CE_mix(x') + 1 * KL(x'))
    assert recorded_objective(command) == {"ce": 0.1, "kl_x": 0.9, "ce_mix_view": 0, "kl_view": 0.9, "other": 0,
                                           "kd_T": 4}


def test_plain_kd_without_lw_mix_makes_no_view():
    opt = train_student.parse_args(shlex.split(REPDISTILLER[0][0]))
    assert opt.lw_mix is None and not train_student.build_objective(opt).needs_view


def test_defaults_are_the_original_codes():
    opt = train_student.parse_args(["--path_t", TEACHER])
    assert (opt.gamma, opt.alpha, opt.beta, opt.lw_mix, opt.kd_T, opt.trial) == (1, 0, 0, None, 4, "1")
    assert (opt.feat_dim, opt.nce_k, opt.nce_t, opt.nce_m, opt.hint_layer, opt.init_epochs) == \
        (128, 16384, 0.07, 0.5, 2, 30)
    assert (opt.batch_size, opt.epochs, opt.learning_rate, opt.lr_decay_epochs, opt.weight_decay) == \
        (64, 240, 0.05, [150, 180, 210], 5e-4)
