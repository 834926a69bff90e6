"""Any image model as teacher or student: timm:<name>(...) and torchvision:<name>(...) specs, their
state_dicts, checkpoints that rebuild them, distillation into a ViT, T. stddev with a timm teacher,
resume, and the one-line refusals. Tiny configurations on digits (32x32, 10 classes), offline."""
import math

import pytest
import timm
import torch
import torchvision

import eval_da_goodness
import train_student
import train_teacher
from conftest import one_line_error
from helper.core.errors import UsageError
from helper.storage.checkpoint import load_checkpoint
from helper.storage.pretrained import build_model, load_model
from helper.storage.run_folder import read_json, read_metrics
from models.external import folder_label, parse_model_spec
from test_resume import assert_same_final_state, interrupt_in_epoch_2

VIT = "timm:vit_tiny_patch16_224(img_size=32,patch_size=8,depth=2)"
VIT_ARGS = dict(img_size=32, patch_size=8, depth=2)
DIGITS = ["--dataset", "digits", "--train_subset", "200", "--test_subset", "100", "--batch_size", "32"]


@pytest.fixture(scope="module")
def crd_teacher(tmp_path_factory):
    root = tmp_path_factory.mktemp("teachers")
    train_teacher.main(["--model", "resnet8", "--epochs", "1", *DIGITS, "--model_path", str(root)])
    return str(root / "resnet8_digits_lr_0.05_decay_0.0005_trial_0" / "ckpt_epoch_1.pth")


# ---------------------------------------------------------------- specs

def test_a_spec_parses_to_typed_arguments_and_a_canonical_form():
    spec = parse_model_spec("timm: vit_tiny_patch16_224( img_size=32, drop_rate=0.1, class_token=false, "
                            "global_pool=avg)")
    assert (spec.library, spec.name) == ("timm", "vit_tiny_patch16_224")
    assert spec.kwargs == (("img_size", 32), ("drop_rate", 0.1), ("class_token", False), ("global_pool", "avg"))
    assert [type(v) for _, v in spec.kwargs] == [int, float, bool, str]
    assert str(spec) == "timm:vit_tiny_patch16_224(img_size=32,drop_rate=0.1,class_token=false,global_pool=avg)"
    assert str(parse_model_spec("torchvision:mobilenet_v3_small")) == "torchvision:mobilenet_v3_small"


@pytest.mark.parametrize("text,message", [
    ("keras:resnet50", "model 'keras:resnet50': unknown library 'keras'; choose one of: timm, torchvision"),
    ("timm:vit(img_size=__import__('os'))", "is not key=value with a number or a word as value"),
    ("timm:vit(depth=2,depth=3)", "depth is given twice"),
    ("timm:resnet18(num_classes=5)", "num_classes comes from the data set and --pretrained, not from the spec"),
    ("timm:resnet18 depth=2", "after the name expected (key=value, ...), found 'depth=2'"),
])
def test_a_bad_spec_is_one_clear_line(text, message):
    with pytest.raises(UsageError) as err:
        parse_model_spec(text)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_unknown_models_name_their_library():
    with pytest.raises(UsageError, match="^timm has no model 'no_such_net'"):
        build_model("timm:no_such_net", 10, 32)
    with pytest.raises(UsageError, match="^torchvision has no classification model 'no_such_net'; choose one of: "):
        build_model("torchvision:no_such_net", 10, 32)


def test_folder_labels_keep_only_safe_characters():
    assert folder_label(VIT) == "timm-vit_tiny_patch16_224-img_size=32-patch_size=8-depth=2"
    assert folder_label("resnet32x4") == "resnet32x4"


def test_classes_and_input_size_come_from_the_data_set_unless_the_spec_sets_them():
    vit = build_model("timm:vit_tiny_patch16_224(patch_size=8,depth=1)", 7, 32).net
    assert (vit.num_classes, vit.patch_embed.img_size) == (7, (32, 32))
    assert build_model("timm:vit_tiny_patch16_224(img_size=48,patch_size=8,depth=1)", 7, 32).net.patch_embed.img_size \
        == (48, 48)
    assert build_model("timm:resnet10t", 7, 32).net.num_classes == 7  # a CNN takes no input size
    assert build_model("torchvision:mobilenet_v3_small", 7, 32).net.classifier[-1].out_features == 7


# ---------------------------------------------------------------- weights

@pytest.mark.parametrize("spec,library_model", [
    (VIT, lambda: timm.create_model("vit_tiny_patch16_224", num_classes=10, **VIT_ARGS)),
    ("torchvision:mobilenet_v3_small", lambda: torchvision.models.mobilenet_v3_small(num_classes=10)),
])
def test_a_plain_library_state_dict_loads_with_model_t_and_gives_the_librarys_logits(tmp_path, spec, library_model):
    torch.manual_seed(1)
    reference = library_model().eval()
    path = str(tmp_path / "weights.pth")
    torch.save(reference.state_dict(), path)
    model, arch, _ = load_model(path, 10, torch.device("cpu"), fallback_arch=spec, image_size=32)
    assert arch == spec
    assert list(model.state_dict()) == list(reference.state_dict())
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))
        features, logits = model(x, is_feat=True)
        assert torch.equal(logits, reference(x))


def test_pretrained_weights_for_other_classes_are_refused_before_any_download(tmp_path, capsys):
    line = one_line_error(capsys, eval_da_goodness.main, ["--model_t", "timm:resnet18", "--pretrained",
                                                          "--dataset", "digits", "--n_groups", "2",
                                                          "--out", str(tmp_path / "g.json")])
    assert line == ("error: timm's weights for resnet18 are for 1000 classes, the data set has 10; "
                    "use the matching --dataset or train a teacher")


def test_pretrained_weights_that_cannot_be_fetched_are_one_line(monkeypatch):
    import huggingface_hub.constants
    from helper.storage.pretrained import load_pretrained
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # never the network, never a hang
    with pytest.raises(UsageError) as err:
        load_pretrained("timm:resnet10t", 1000, torch.device("cpu"))
    message = str(err.value)
    assert message.startswith("cannot fetch timm's weights for resnet10t (") and "\n" not in message
    assert message.endswith("offline, pass a weight file (a state_dict of this model) as --path_t instead")


# ---------------------------------------------------------------- training

def test_a_timm_teacher_trains_and_its_checkpoint_alone_rebuilds_it(tmp_path):
    summary = train_teacher.main(["--model", VIT, "--epochs", "1", *DIGITS, "--model_path", str(tmp_path)])
    folder = tmp_path / f"{folder_label(VIT)}_digits_lr_0.05_decay_0.0005_trial_0"
    path = str(folder / "ckpt_epoch_1.pth")
    assert load_checkpoint(path)["arch"] == VIT
    model, arch, _ = load_model(path, 10, torch.device("cpu"), image_size=32)  # no --model_t
    assert arch == VIT
    assert summary["last_test_acc"] == read_metrics(str(folder))[-1]["test_acc"]
    reference = timm.create_model("vit_tiny_patch16_224", num_classes=10, **VIT_ARGS).eval()
    reference.load_state_dict(load_checkpoint(path)["model"])
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))


def test_a_vit_student_distils_from_a_crd_teacher_with_kd_and_cutmix_pick(crd_teacher, tmp_path):
    summary = train_student.main([
        "--path_t", crd_teacher, "--model_s", VIT, "--distill", "kd", "-r", "0.1", "-a", "0.9", "-b", "0",
        "--lw_mix", "[1,0,1]", "--mix_mode", "cutmix_pick", "--cutmix_pick_criterion", "student_entropy",
        "--epochs", "3", "--lr_decay_epochs", "5", "--learning_rate", "0.01", *DIGITS,
        "--project", "vit", "--model_path", str(tmp_path)])
    losses = [m["train_loss"] for m in read_metrics(str(tmp_path / "vit_trial_1"))]
    assert losses[2] < losses[0], losses
    assert summary["arch"] == VIT and summary["teacher_arch"] == "resnet8"


def test_a_torchvision_student_trains_with_kd(crd_teacher, tmp_path):
    train_student.main(["--path_t", crd_teacher, "--model_s", "torchvision:mobilenet_v3_small", "--distill", "kd",
                        "-r", "0.1", "-a", "0.9", "--epochs", "1", *DIGITS, "--project", "tv",
                        "--model_path", str(tmp_path)])
    checkpoint = load_checkpoint(str(tmp_path / "tv_trial_1" / "ckpt_epoch_1.pth"))
    assert checkpoint["arch"] == "torchvision:mobilenet_v3_small"
    assert list(checkpoint["model"]) == list(torchvision.models.mobilenet_v3_small().state_dict())


def test_crd_trains_with_a_timm_student(crd_teacher, tmp_path):
    summary = train_student.main(["--path_t", crd_teacher, "--model_s", VIT, "--distill", "crd", "-r", "1",
                                  "-a", "0", "-b", "0.8", "--nce_k", "32", "--epochs", "1", *DIGITS,
                                  "--project", "crd", "--model_path", str(tmp_path)])
    assert summary["distill"] == "crd"
    assert any("embed_s" in key for key in load_checkpoint(str(tmp_path / "crd_trial_1" / "last.pth"))["distiller"])


@pytest.mark.parametrize("spec", ["torchvision:resnet18", "torchvision:mobilenet_v3_small"])
def test_a_torchvision_cnn_gives_its_stage_maps_and_pre_logit_vector_with_its_own_logits(spec):
    torch.manual_seed(3)
    model = build_model(spec, 10, 32).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        features, logits = model(x, is_feat=True)
        assert torch.equal(logits, model(x))
    *maps, pre_logits = features
    assert len(maps) >= 4 and all(m.dim() == 4 and m.shape[0] == 2 for m in maps)
    sizes = [m.shape[-1] for m in maps]
    assert sizes == sorted(set(sizes), reverse=True) and all(m.shape[-2] == m.shape[-1] for m in maps)
    classifier = [m for m in model.net.modules() if isinstance(m, torch.nn.Linear)][-1]
    assert pre_logits.shape == (2, classifier.in_features)


def test_a_feature_method_trains_with_a_torchvision_student(crd_teacher, tmp_path):
    summary = train_student.main(["--path_t", crd_teacher, "--model_s", "torchvision:resnet18", "--distill",
                                  "attention", "-r", "1", "-a", "0", "-b", "1000", "--epochs", "1", *DIGITS,
                                  "--project", "at", "--model_path", str(tmp_path)])
    loss = read_metrics(str(tmp_path / "at_trial_1"))[-1]["train_loss"]
    assert summary["distill"] == "attention" and math.isfinite(loss) and loss > 0


@pytest.mark.parametrize("method", ["crd", "attention"])  # crd sizes its embeddings from the features; attention
def test_a_feature_method_with_a_model_without_features_is_refused_before_the_run(method, crd_teacher, tmp_path,
                                                                                  capsys):  # reads them in its loss only
    line = one_line_error(capsys, train_student.main, [  # squeezenet has no Linear classifier, so no pre-logit vector
        "--path_t", crd_teacher, "--model_s", "torchvision:squeezenet1_0", "--distill", method, "-b", "0.8",
        "--nce_k", "32", "--epochs", "1", "--lr_decay_epochs", "5", *DIGITS, "--model_path", str(tmp_path)])
    assert line == (f"error: --distill {method} reads intermediate features, but torchvision:squeezenet1_0 exposes "
                    "no intermediate features; use a logit method: --distill kd, dkd, dist, mlkd (with --logit_stand "
                    "or --method_as_kl if wanted)")
    assert list(tmp_path.iterdir()) == []  # refused before any run folder was made


def test_a_timm_state_dict_scores_das_as_the_t_stddev_teacher(tmp_path):
    torch.manual_seed(2)
    path = str(tmp_path / "vit.pth")
    torch.save(timm.create_model("vit_tiny_patch16_224", num_classes=10, **VIT_ARGS).state_dict(), path)
    out = str(tmp_path / "goodness.json")
    eval_da_goodness.main(["--path_t", path, "--model_t", VIT, "--mix_mode", "identity", "cutmix", "cutmix_pick_T",
                           "--n_groups", "3", "--compute_batch", "64", *DIGITS[:-2], "--out", out])
    record = read_json(out)
    assert record["teacher_arch"] == VIT
    assert set(record["results"]) == {"identity", "cutmix", "cutmix_pick_T"}
    assert all(r["t_stddev"] > 0 for r in record["results"].values())


def test_a_timm_student_resumes_bitwise(crd_teacher, tmp_path, monkeypatch):
    def argv(model_path):
        return ["--path_t", crd_teacher, "--model_s", VIT, "-r", "0.1", "-a", "0.9", "--lw_mix", "[1,0,1]",
                "--mix_mode", "cutmix", "--epochs", "2", "--lr_decay_epochs", "1", "--batch_size", "16",
                "--dataset", "digits", "--train_subset", "96", "--test_subset", "60", "--project", "kd",
                "--model_path", str(model_path)]
    straight = train_student.main(argv(tmp_path / "straight"))
    interrupt_in_epoch_2(monkeypatch, train_student, argv(tmp_path / "killed"))
    resumed = train_student.main(argv(tmp_path / "killed") + ["--resume"])
    assert_same_final_state(str(tmp_path / "straight" / "kd_trial_1"), str(tmp_path / "killed" / "kd_trial_1"),
                            epochs=2)
    assert resumed["last_test_loss"] == straight["last_test_loss"]


def test_a_feature_method_that_cannot_pair_the_features_is_refused_in_one_line(crd_teacher, tmp_path, capsys):
    line = one_line_error(capsys, train_student.main, [
        "--path_t", crd_teacher, "--model_s", VIT, "--distill", "hint", "-b", "100", "--epochs", "1",
        "--lr_decay_epochs", "5", *DIGITS, "--model_path", str(tmp_path)])
    assert line == ("error: --distill hint cannot pair the student's features with the teacher's (not enough values "
                    "to unpack (expected 4, got 2)); kd, dkd, dist, mlkd work with any pair of models")
