"""The paper's settings for the shell scripts, so that they read them from the code instead of
repeating them:

    python3 -m helper.cli.paper kd_flags          # -r 0.1 -a 0.9 -b 0 --kd_T 4 --lw_mix [1,0,1]
    eval "$(python3 -m helper.cli.paper shell)"   # ALL_DAS, KD_WEIGHTS, CRD_WEIGHTS, PAPER_LW_MIX

The facts live in helper/augment/__init__.py (PAPER_DAS) and helper/engine/objective.py (PAPER_KD,
PAPER_CRD_BETA). This module reads them from those files' source instead of importing them (which
would import torch), so that any python3 runs it: the shell scripts need the settings before they
know the environment, and their PYTHON may be a launcher or a stand-in."""
import ast
import os
import shlex
import sys

HELPER = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOMES = {"PAPER_DAS": "augment/__init__.py", "PAPER_KD": "engine/objective.py", "PAPER_CRD_BETA": "engine/objective.py"}


def paper_constant(name):
    """The literal value assigned to ``name`` at the top of its home module."""
    with open(os.path.join(HELPER, HOMES[name])) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise LookupError(f"{name} is not assigned in helper/{HOMES[name]}")


def weight_flags(kd, beta=None):
    """train_student.py's -r -a -b words for the weights ``kd`` (PAPER_KD), with another -b if given."""
    return ["-r", f"{kd['gamma']:g}", "-a", f"{kd['alpha']:g}", "-b", f"{kd['beta'] if beta is None else beta:g}"]


def lw_mix_flag(weights):
    """--lw_mix's value for ``weights``: [1,0,1] for the paper's."""
    return "[" + ",".join(f"{w:g}" for w in weights) + "]"


def kd_flags(kd):
    """train_student.py's flags for the objective ``kd`` (PAPER_KD: the paper's KD)."""
    return weight_flags(kd) + ["--kd_T", f"{kd['kd_T']:g}", "--lw_mix", lw_mix_flag(kd["lw_mix"])]


def words(items):
    return " ".join(shlex.quote(w) for w in items)


def shell_assignments():
    """Bash assignments of the paper's settings, for scripts/common.sh."""
    kd = paper_constant("PAPER_KD")
    return "\n".join([f"ALL_DAS={shlex.quote(' '.join(paper_constant('PAPER_DAS')))}",
                      f"KD_WEIGHTS=({words(weight_flags(kd))})",
                      f"CRD_WEIGHTS=({words(weight_flags(kd, paper_constant('PAPER_CRD_BETA')))})",
                      f"PAPER_LW_MIX={shlex.quote(lw_mix_flag(kd['lw_mix']))}"])


OUTPUTS = {"kd_flags": lambda: " ".join(kd_flags(paper_constant("PAPER_KD"))),
           "das": lambda: " ".join(paper_constant("PAPER_DAS")), "shell": shell_assignments}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] not in OUTPUTS:
        sys.exit(f"error: python3 -m helper.cli.paper takes one of: {', '.join(OUTPUTS)}")
    print(OUTPUTS[argv[0]]())


if __name__ == "__main__":
    main()
