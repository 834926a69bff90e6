"""DA specs on the command line: declarations, the parser, canonical names, records, the
search space, the two combinators, and every bad input as one line and exit 2."""
import importlib.util
import os

import pytest
import torch

import eval_da_goodness
import train_student
from conftest import one_line_error
from helper.augment import (AUGMENTATIONS, DAConfig, Param, build_augmentation, canonical_da, da_help,
                            da_label, da_record, parse_da, search_space, standalone_names)
from helper.core.errors import UsageError
from helper.core.paper import PAPER_DAS


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def constant_images(b, h=32, w=32):
    """Image i is the constant i + 1: a pixel's value says which image it came from."""
    return (torch.arange(b, dtype=torch.uint8) + 1).view(b, 1, 1, 1).expand(b, 3, h, w).contiguous()


def mean_scorer(x):
    m = x.float().mean(dim=(2, 3)) / (255 if x.dtype == torch.uint8 else 1)
    return torch.stack([8 * m[:, 0], 4 * m[:, 1], torch.zeros_like(m[:, 0])], dim=1)


# ----------------------------------------------------------------------------- declarations

def test_param_checks_type_and_range():
    alpha = Param("alpha", float, 1.0, low=0.0, low_open=True)
    assert alpha.check(2) == 2.0 and isinstance(alpha.check(2), float)
    with pytest.raises(UsageError, match=r"alpha must be > 0, got 0.0"):
        alpha.check(0)
    n = Param("n", int, 2, low=1, high=16)
    assert n.parse("3") == 3 and n.parse("3.0") == 3
    with pytest.raises(UsageError, match=r"n must be an integer, got 2.5"):
        n.parse("2.5")
    with pytest.raises(UsageError, match=r"n must be in \[1, 16\], got 17"):
        n.parse("17")
    pair = Param("scale", tuple, (0.02, 0.33), low=0.0, high=1.0)
    assert pair.parse(("0.1", "0.5")) == (0.1, 0.5) and pair.format((0.1, 0.5)) == "(0.1,0.5)"
    with pytest.raises(UsageError, match="ordered pair"):
        pair.parse(("0.5", "0.1"))
    by = Param("by", str, "teacher", choices=("teacher", "student"))
    with pytest.raises(UsageError, match=r"by must be one of teacher\|student, got 'nobody'"):
        by.parse("nobody")
    with pytest.raises(TypeError):
        Param("size", int, None)  # a derived default must say what it is
    with pytest.raises(UsageError):
        Param("x", float, -1.0, low=0.0)  # a default out of its own range


def test_every_registered_da_declares_a_name_label_and_valid_defaults():
    for name, cls in AUGMENTATIONS.items():
        assert cls.name == name and cls.label
        for p in cls.params:
            assert p.default is None or p.check(p.default) == p.default
            assert set(p.space()) >= {"type", "default"}


# ----------------------------------------------------------------------------- the parser

@pytest.mark.parametrize("text,canonical", [
    ("cutmix", "cutmix"),
    ("cutmix(alpha=0.5)", "cutmix(alpha=0.5)"),
    (" cutmix( alpha = 0.5 ) ", "cutmix(alpha=0.5)"),
    ("cutmix(alpha=1)", "cutmix"),          # a default is left out
    ("cutmix(alpha=1.0)", "cutmix"),
    ("cutout(size=12)", "cutout(size=12)"),
    ("cutout(size=8)", "cutout(size=8)"),   # a derived default is kept when given
    ("crop+flip", "crop+flip"),             # the name with a '+'
    ("flip+crop+flip", "flip+crop+flip"),
    ("crop+flip+cutout(size=4)", "crop+flip+cutout(size=4)"),
    ("pick(cutmix, n_run=2, by=teacher)", "pick(cutmix)"),
    ("pick(by=student, cutmix(alpha=0.5))", "pick(cutmix(alpha=0.5),by=student)"),
    ("pick(flip+cutmix,n_pick=10,n_run=3)", "pick(flip+cutmix,n_run=3,n_pick=10)"),
    ("cutmix_pick_T", "cutmix_pick_T"),
    ("autoaugment(policy=svhn)", "autoaugment(policy=svhn)"),
    ("mixup(alpha=2e-1)", "mixup(alpha=0.2)"),
])
def test_canonical_form(text, canonical):
    assert canonical_da(text) == canonical
    assert canonical_da(canonical) == canonical, "the canonical form is a fixed point"


def test_parsed_structure():
    spec = parse_da("pick(flip+cutmix(alpha=0.5),n_run=3)")
    assert spec.name == "pick" and dict(spec.options) == {"n_run": 3}
    (inner,) = spec.parts
    assert inner.name == "+" and [p.name for p in inner.parts] == ["flip", "cutmix"]
    assert dict(inner.parts[1].options) == {"alpha": 0.5}


BAD = [
    ("cutmux", "unknown --mix_mode 'cutmux'; choose one of: identity, flip"),
    ("flip+cutmux", "--mix_mode 'flip+cutmux': unknown DA 'cutmux'; choose one of: identity"),
    ("cutmix(alpha=0)", "--mix_mode 'cutmix(alpha=0)': cutmix: alpha must be > 0, got 0.0"),
    ("cutmix(alpha=-1)", "alpha must be > 0, got -1.0"),
    ("cutmix(beta=1)", "--mix_mode 'cutmix(beta=1)': cutmix has no parameter 'beta' (its parameters: alpha)"),
    ("flip(size=3)", "flip has no parameter 'size' (its parameters: none)"),
    ("cutmix(alpha=)", "expected a value at position 14, found ')'"),
    ("cutmix(alpha=0.5", "expected ',' or ')' at position 17, found the end"),
    ("cutmix(alpha=0.5,alpha=0.4)", "cutmix: alpha is given twice"),
    ("cutmix(0.5)", "expected a parameter like name=value in cutmix(...) at position 8"),
    ("cutmix)", "unexpected ')' at position 7"),
    ("cutmix;rm -rf", "unexpected character ';' at position 7"),
    ("__import__('os')", "unexpected character \"'\" at position 12"),
    ("__import__", "unknown --mix_mode '__import__'"),
    ("cutmix(alpha=eval)", "cutmix: alpha must be a number, got 'eval'"),
    ("cutout(size=2.5)", "cutout: size must be an integer, got 2.5"),
    ("cutout(size=0)", "cutout: size must be >= 1, got 0"),
    ("pick(by=teacher)", "pick wraps one DA, e.g. pick(cutmix, n_run=2, by=teacher); got 0"),
    ("pick(cutmix,flip)", "pick wraps one DA"),
    ("pick(cutmix,by=nobody)", "pick: by must be one of teacher|student, got 'nobody'"),
    ("pick(cutmix,n_run=0)", "pick: n_run must be in [1, 16], got 0"),
    ("pick", "pick wraps one DA"),
    ("cutmix+", "expected a DA name at position 8, found the end"),
    ("+cutmix", "expected a DA name at position 1, found '+'"),
    ("", "--mix_mode needs a DA"),
]


@pytest.mark.parametrize("text,message", BAD)
def test_bad_specs_say_what_is_wrong(text, message):
    with pytest.raises(UsageError) as err:
        parse_da(text)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_impossible_combinations_are_refused_when_built():
    config = DAConfig(32)
    with pytest.raises(UsageError, match="mixes images in more than one of its DAs"):
        build_augmentation("mixup+cutmix", config)
    with pytest.raises(UsageError, match="both the teacher and the student"):
        build_augmentation("pick(cutmix,by=student)+pick(flip)", config)
    with pytest.raises(UsageError, match="use one model"):
        build_augmentation("pick(pick(cutmix,by=student))", config)


@pytest.mark.parametrize("text,message", [BAD[0], BAD[2], BAD[4], BAD[6], BAD[16]])
def test_scripts_end_a_bad_spec_in_one_line_and_exit_2(capsys, text, message):
    line = one_line_error(capsys, train_student.main, ["--path_t", "x.pth", "--mix_mode", text])
    assert message in line
    line = one_line_error(capsys, eval_da_goodness.main, ["--path_t", "x.pth", "--mix_mode", "identity", text])
    assert message.replace("--mix_mode", "DA") in line


def test_scripts_record_the_canonical_spec():
    opt = train_student.parse_args(["--path_t", "x.pth", "--mix_mode", "cutmix( alpha=0.50 )"])
    assert opt.mix_mode == "cutmix(alpha=0.5)"
    opt = eval_da_goodness.parse_args(["--path_t", "x.pth", "--mix_mode", "cutmix(alpha=1)", "cutmix",
                                       "pick(cutmix,by=teacher,n_run=2)"])
    assert opt.mix_mode == ["cutmix", "pick(cutmix)"], "one canonical name, duplicates dropped"
    with pytest.raises(UsageError, match=r"pick\(cutmix,by=student\) scores with a student's entropy"):
        eval_da_goodness.parse_args(["--path_t", "x.pth", "--mix_mode", "pick(cutmix,by=student)"])


def test_original_commands_keep_their_names():
    opt = train_student.parse_args(["--path_t", "x.pth", "--mix_mode", "cutmix_pick", "--mix_n_run", "2",
                                    "--cutmix_pick_criterion", "student_entropy"])
    assert train_student.da_name(opt.mix_mode, opt.cutmix_pick_criterion) == "cutmix_pick_S"
    da = build_augmentation(opt.mix_mode, train_student.make_da_config(opt, 32))
    assert da.scored_by == "student" and da.n_run == 2
    assert build_augmentation("cutmix_pick", DAConfig(32)).scored_by == "teacher"
    assert list(PAPER_DAS) == ["identity", "flip", "crop+flip", "cutout", "autoaugment", "mixup", "cutmix",
                               "cutmix_pick_S", "cutmix_pick_T"]


# ----------------------------------------------------------------------------- records, help, space

def test_record_holds_every_value():
    assert da_record("pick(cutmix(alpha=0.5),by=student)") == {
        "name": "pick", "params": {"n_run": 2, "n_pick": None, "by": "student"},
        "parts": [{"name": "cutmix", "params": {"alpha": 0.5}}]}
    assert da_record("flip+cutout") == {"name": "+", "parts": [{"name": "flip", "params": {}},
                                                               {"name": "cutout", "params": {"size": None}}]}


def test_help_and_search_space_come_from_the_declarations():
    text = da_help()
    for name, cls in AUGMENTATIONS.items():
        assert name in text
        for p in cls.params:
            assert p.describe() in text
    assert "pick(DA, n_run=2, by=teacher|student)" in text and "DA1+DA2" in text
    assert search_space("cutmix") == {"alpha": {"type": "float", "default": 1.0, "low": 0.1, "high": 2.0,
                                                "low_open": False}}
    assert search_space("pick")["by"] == {"type": "str", "default": "teacher", "choices": ["teacher"]}
    with pytest.raises(ValueError, match="unknown DA 'blur'"):
        search_space("blur")


def test_labels_for_tables():
    assert da_label("cutmix_pick_T") == "CutMixPick (T. ent.)" and da_label("crop+flip") == "Crop+Flip"
    assert da_label("cutmix(alpha=0.50)") == "cutmix(alpha=0.5)"
    assert da_label("not a spec!") == "not a spec!"
    assert "pick" not in standalone_names() and "cutmix_pick" not in standalone_names()


# ----------------------------------------------------------------------------- combinators

def test_cutmix_pick_t_is_pick_of_cutmix_exactly():
    x = constant_images(16)
    config = DAConfig(32)
    a = build_augmentation("cutmix_pick_T", config)(x, gen(3), mean_scorer)
    b = build_augmentation("pick(cutmix, n_run=2, by=teacher)", config)(x, gen(3), mean_scorer)
    for field in ("x", "source", "partner", "lam", "logits"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field
    s = build_augmentation("cutmix_pick_S", config)
    assert s.scored_by == "student" and build_augmentation("cutmix_pick_T", config).scored_by == "teacher"


def test_pick_over_any_da_keeps_the_highest_entropy_views_of_its_pool():
    x = torch.randint(0, 256, (8, 3, 32, 32), generator=gen(1), dtype=torch.uint8)
    da = build_augmentation("pick(cutout(size=16),n_run=3,n_pick=5)", DAConfig(32))
    calls = []

    def scorer(images):
        calls.append(len(images))
        return mean_scorer(images)

    out = da(x, gen(4), scorer)
    assert calls == [24] and out.x.shape[0] == 5
    cutout, g = build_augmentation("cutout(size=16)", DAConfig(32)), gen(4)
    pool = torch.cat([cutout(x, g).x for _ in range(3)])
    keep = torch.topk(-(mean_scorer(pool).softmax(1) * mean_scorer(pool).log_softmax(1)).sum(1), 5).indices
    assert torch.equal(out.x, pool[keep]) and torch.equal(out.source, torch.arange(8).repeat(3)[keep])
    assert torch.equal(out.logits, mean_scorer(out.x))


def test_sequence_applies_in_order_with_one_stream():
    x = torch.randint(0, 256, (8, 3, 32, 32), generator=gen(2), dtype=torch.uint8)
    config = DAConfig(32)
    out = build_augmentation("flip+cutout(size=12)", config)(x, gen(5))
    g = gen(5)
    expected = build_augmentation("cutout(size=12)", config)(build_augmentation("flip", config)(x, g).x, g)
    assert torch.equal(out.x, expected.x) and torch.equal(out.source, torch.arange(8))
    assert not build_augmentation("flip+cutmix", config).view_logits
    assert build_augmentation("flip+cutmix_pick_T", config).view_logits
    assert not build_augmentation("cutmix_pick_T+flip", config).view_logits, "logits of images since flipped"


@pytest.mark.parametrize("spec", ["cutmix+pick(flip,n_pick=6)", "flip+cutmix", "pick(flip+cutmix)"])
def test_sequence_provenance_names_the_original_images(spec):
    x = constant_images(12)
    out = build_augmentation(spec, DAConfig(32))(x, gen(6), mean_scorer)
    assert not (out.source == out.partner).any()
    for view, s, p, lam in zip(out.x, out.source, out.partner, out.lam):
        values = view[0].flatten()
        assert torch.isclose((values == int(s) + 1).float().mean(), lam)
        assert ((values == int(s) + 1) | (values == int(p) + 1)).all()


def test_summarize_groups_by_canonical_name_in_the_registry_order():
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts", "summarize.py")
    spec = importlib.util.spec_from_file_location("summarize", path)
    summarize = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(summarize)
    assert summarize.canonical_name("cutmix( alpha=0.50 )") == "cutmix(alpha=0.5)"
    assert summarize.canonical_name("cutmix(alpha=1)") == "cutmix"
    assert summarize.canonical_name("an old name") == "an old name"
    assert summarize.DA_ORDER[:9] == list(PAPER_DAS) and "randaugment" in summarize.DA_ORDER
    order = sorted(["cutmix(alpha=0.5)", "augmix", "cutmix_pick_T", None, "identity"], key=summarize.da_order)
    assert order == [None, "identity", "cutmix_pick_T", "augmix", "cutmix(alpha=0.5)"]
    assert summarize.setting_label("KD", "cutmix_pick_T", "") == "KD+CutMixPick (T. ent.)"
