"""The paper's settings have one home, helper/core/paper.py; the library, the scripts and the shell
scripts read them from there."""
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from helper.augment import standalone_names
from helper.core.paper import PAPER_CRD_BETA, PAPER_DAS, PAPER_KD, kd_flags, lw_mix_flag, main, weight_flags
from helper.goodness.schemes import DA_NAMES


def test_the_flags_are_the_papers_commands():
    assert kd_flags() == ["-r", "0.1", "-a", "0.9", "-b", "0", "--kd_T", "4", "--lw_mix", "[1,0,1]"]
    assert weight_flags(PAPER_KD, PAPER_CRD_BETA) == ["-r", "0.1", "-a", "0.9", "-b", "0.8"]
    assert lw_mix_flag((1.0, 0.0, 0.0)) == "[1,0,0]"


def test_every_paper_da_is_scored_by_default_and_is_registered():
    assert sorted(DA_NAMES) == sorted(PAPER_DAS)
    assert set(PAPER_DAS) - {"cutmix_pick_S", "cutmix_pick_T"} <= set(standalone_names())


def test_the_shell_reads_them_without_the_environment():
    """The way scripts/common.sh asks, with -S -E (no site packages, no PYTHON* variables): the module
    needs no torch, no numpy, nothing of the environment."""
    script = ('paper_setting() { ' + sys.executable + ' -S -E -m helper.core.paper "$1"; }; '
              'ALL_DAS="$(paper_setting das)"; read -ra KD <<< "$(paper_setting kd_weights)"; '
              'read -ra CRD <<< "$(paper_setting crd_weights)"; '
              'echo "$ALL_DAS"; echo "${KD[*]}"; echo "${#KD[@]}"; echo "${CRD[*]}"; paper_setting lw_mix; '
              'paper_setting kd_flags')
    done = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"]}, check=True)
    assert done.stdout.splitlines() == [" ".join(PAPER_DAS), "-r 0.1 -a 0.9 -b 0", "6", "-r 0.1 -a 0.9 -b 0.8",
                                        "[1,0,1]", "-r 0.1 -a 0.9 -b 0 --kd_T 4 --lw_mix [1,0,1]"]


def test_an_unknown_question_is_one_line():
    with pytest.raises(SystemExit) as exit_info:
        main(["weights"])
    assert exit_info.value.code == ("error: python3 -m helper.core.paper takes one of: "
                                    "kd_flags, kd_weights, crd_weights, lw_mix, das")
