"""--amp (bfloat16 autocast) and --compile on the CPU, on the streamed data path: a smoke test.
Inductor's C++ code generation takes minutes on a small CPU, so the compile here uses the
aot_eager backend: dynamo's tracing and AOT autograd of our models and steps, without codegen."""
import numpy as np
import pytest
import torch

from fixtures_folder import make_image_folder, sample_available
from helper.core.speed import autocast
from helper.storage.checkpoint import load_checkpoint

pytestmark = pytest.mark.skipif(not sample_available(), reason="Tiny ImageNet sample not present")


def test_amp_and_compile_train_and_distil_on_the_cpu(tmp_path, monkeypatch):
    import train_student
    import train_teacher
    with autocast(torch.device("cpu"), True):
        assert torch.nn.functional.linear(torch.ones(2, 3), torch.ones(4, 3)).dtype == torch.bfloat16
    compile_module = torch.nn.Module.compile
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: compile_module(self, backend="aot_eager"))
    tree = make_image_folder(str(tmp_path / "tree"), n_classes=2, train_per_class=4, val_per_class=1)
    common = ["--dataset", "imagefolder", "--data_folder", tree, "--image_size", "16", "--num_workers", "0",
              "--device", "cpu", "--batch_size", "4", "--epochs", "1", "--amp", "--compile"]
    teacher = train_teacher.main(common + ["--model", "resnet8", "--model_path", str(tmp_path / "t")])
    assert np.isfinite(teacher["last_test_loss"])
    ckpt = next((tmp_path / "t").glob("*/last.pth"))
    assert not any("_orig_mod" in k for k in load_checkpoint(str(ckpt))["model"])
    student = train_student.main(common + ["--path_t", str(ckpt), "--model_s", "resnet8", "--mix_mode", "cutmix",
                                           "-r", "0.1", "-a", "0.9", "--lw_mix", "[1,0,1]",
                                           "--model_path", str(tmp_path / "s")])
    assert np.isfinite(student["last_test_loss"])
