"""The paper's settings, in one table: its KD objective and its nine DAs. The library, the scripts
and the shell scripts all read them from here.

The module imports nothing of the project and no third-party package, so that the shell scripts
can ask any python3 for the settings before they know which environment runs the training:

    python3 -m helper.core.paper kd_flags    # -r 0.1 -a 0.9 -b 0 --kd_T 4 --lw_mix [1,0,1]
    python3 -m helper.core.paper das         # identity flip crop+flip ... cutmix_pick_T
"""
import sys

# The paper's objective (its commands: -r 0.1 -a 0.9 -b 0 --kd_T 4 --lw_mix [1,0,1]): weights of CE on
# the labels, of the KD terms and of the method's own loss; KL on x, CE on the mixed labels of x', KL on x'.
PAPER_KD = {"gamma": 0.1, "alpha": 0.9, "beta": 0.0, "lw_mix": (1.0, 0.0, 1.0), "kd_T": 4.0}
# CRD+KD keeps the KD weights and adds CRD's loss with -b 0.8.
PAPER_CRD_BETA = 0.8
# The paper's nine DAs, in its tables' order: eval_da_goodness.py's default and the scripts' list.
PAPER_DAS = ("identity", "flip", "crop+flip", "cutout", "autoaugment", "mixup", "cutmix",
             "cutmix_pick_S", "cutmix_pick_T")


def weight_flags(kd=PAPER_KD, beta=None):
    """train_student.py's -r -a -b words for the weights ``kd``, with another -b if given."""
    return ["-r", f"{kd['gamma']:g}", "-a", f"{kd['alpha']:g}", "-b", f"{kd['beta'] if beta is None else beta:g}"]


def lw_mix_flag(weights):
    """--lw_mix's value for ``weights``: [1,0,1] for the paper's."""
    return "[" + ",".join(f"{w:g}" for w in weights) + "]"


def kd_flags(kd=PAPER_KD):
    """train_student.py's flags for the objective ``kd`` (default: the paper's KD)."""
    return weight_flags(kd) + ["--kd_T", f"{kd['kd_T']:g}", "--lw_mix", lw_mix_flag(kd["lw_mix"])]


# What the shell scripts ask for: each answer is one line of words, for `read -ra` or a plain variable.
ANSWERS = {
    "kd_flags": kd_flags,
    "kd_weights": weight_flags,
    "crd_weights": lambda: weight_flags(beta=PAPER_CRD_BETA),
    "lw_mix": lambda: [lw_mix_flag(PAPER_KD["lw_mix"])],
    "das": lambda: list(PAPER_DAS),
}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] not in ANSWERS:
        sys.exit(f"error: python3 -m helper.core.paper takes one of: {', '.join(ANSWERS)}")
    print(" ".join(ANSWERS[argv[0]]()))


if __name__ == "__main__":
    main()
