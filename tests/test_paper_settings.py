"""The paper's settings have one home in the code; the shell scripts read them through helper/cli/paper.py."""
import os
import subprocess
import sys

from conftest import ROOT
from helper.augment import PAPER_DAS
from helper.cli.paper import kd_flags, lw_mix_flag, paper_constant, weight_flags
from helper.engine.objective import PAPER_CRD_BETA, PAPER_KD


def test_the_source_reader_sees_what_the_modules_define():
    assert paper_constant("PAPER_DAS") == PAPER_DAS
    assert paper_constant("PAPER_KD") == PAPER_KD and paper_constant("PAPER_CRD_BETA") == PAPER_CRD_BETA


def test_the_flags_are_the_papers_commands():
    assert kd_flags(PAPER_KD) == ["-r", "0.1", "-a", "0.9", "-b", "0", "--kd_T", "4", "--lw_mix", "[1,0,1]"]
    assert weight_flags(PAPER_KD, PAPER_CRD_BETA) == ["-r", "0.1", "-a", "0.9", "-b", "0.8"]
    assert lw_mix_flag((1.0, 0.0, 0.0)) == "[1,0,0]"


def test_the_shell_reads_them_without_the_environment():
    """Run with -S -E (no site packages, no PYTHON* variables): no torch, no numpy, just the source."""
    script = ('eval "$(' + sys.executable + ' -S -E -m helper.cli.paper shell)"; '
              'echo "$ALL_DAS"; echo "${KD_WEIGHTS[*]}"; echo "${CRD_WEIGHTS[*]}"; echo "$PAPER_LW_MIX"')
    done = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"]}, check=True)
    assert done.stdout.splitlines() == [" ".join(PAPER_DAS), "-r 0.1 -a 0.9 -b 0", "-r 0.1 -a 0.9 -b 0.8", "[1,0,1]"]
