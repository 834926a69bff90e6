"""Every command that README.md and docs/*.md document still works as written: each `python
<script>.py ...` command parses with its script's own parser (without running it) and every --flag
it passes is in the script's --help; each `bash scripts/<X>.sh` command dry-runs with exit 0, and
the commands its dry run prints parse in turn. A renamed or removed flag, script or knob therefore
fails here, not in a reader's shell."""
import contextlib
import functools
import glob
import importlib.util
import io
import os
import re
import shlex
import subprocess
from dataclasses import dataclass

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCUMENTS = ["README.md"] + sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))
PYTHONS = {"python", "python3"}
LAUNCHERS = PYTHONS | {"torchrun", "srun"}
TOP_SCRIPTS = ("train_teacher.py", "train_student.py", "eval_da_goodness.py", "tune_da.py")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
# The knobs a documented shell command may set; the environment's own values must not leak in.
SCRIPT_KNOBS = ("DRY_RUN", "EPOCHS", "TRIALS", "TRAIN_SUBSET", "TEST_SUBSET", "N_GROUPS", "PAIRS", "TEACHERS", "DAS",
                "TEACHER_PATTERN", "SAVE_ROOT", "DATASET", "DATA_FOLDER", "DEVICE", "PYTHON", "LAUNCH", "SEEDS",
                "PILOT", "SETTING", "SUBSET_SEED", "IMAGENET_SETS", "PARALLEL", "TEACHER_SOURCES", "EXPECTED_ACC", "SKIP_CHECK")
# Links to pages that a parallel branch writes (the lead merges them together); drop once merged.
WRITTEN_ELSEWHERE = {"docs/architecture.md"}


@dataclass(frozen=True)
class Command:
    where: str  # file:line of the documentation
    kind: str  # "python": a full command; "fragment": a script and some of its flags; "bash"; "pytest"
    program: str  # path from the repository root
    argv: tuple
    env: tuple = ()  # (name, value) pairs set before the command

    def __str__(self):
        return f"{self.where}: {self.program} {shlex.join(self.argv)}"


def expand(line, variables):
    """$NAME and ${NAME} of the variables the code block set; others stay as they are."""
    def value(match):
        name = match.group(1) or match.group(2)
        return variables.get(name, match.group(0))
    return VARIABLE.sub(value, line)


def command_of(text, where):
    """The Command a line of shell documents, or None when it runs none of the repository's scripts."""
    try:
        tokens = shlex.split(text, comments=True)
    except ValueError:
        return None
    env = []
    while tokens and ASSIGNMENT.match(tokens[0]):
        env.append(tuple(tokens.pop(0).split("=", 1)))
    if not tokens:
        return None
    head = tokens[0]
    if len(tokens) == 1:
        return None  # a word in prose (`python`), not a command
    if head == "bash" and len(tokens) > 1 and tokens[1].endswith(".sh"):
        return Command(where, "bash", tokens[1], tuple(tokens[2:]), tuple(env))
    if head in PYTHONS and tokens[1:3] == ["-m", "pytest"]:
        return Command(where, "pytest", "pytest", tuple(tokens[3:]), tuple(env))
    if head in LAUNCHERS:
        scripts = [i for i, token in enumerate(tokens) if token.endswith(".py")]
        if head in PYTHONS and tokens[1:2] == ["-m"]:
            return None  # python -m venv, pip ...: not the repository's scripts
        if not scripts:
            return Command(where, "python", "", tuple(tokens), tuple(env))  # reported: no script in it
        i = scripts[0]
        return Command(where, "python", tokens[i], tuple(tokens[i + 1:]), tuple(env))
    if head in TOP_SCRIPTS:
        return Command(where, "fragment", head, tuple(tokens[1:]), tuple(env))
    return None


def documented_commands(markdown, name):
    """The commands of a markdown text: fenced code blocks, backslash-continued lines joined and the
    variables a block assigns (KD="...") expanded in its later lines, and inline code spans."""
    found, prose = [], []
    lines = markdown.split("\n")
    in_block, variables, pending, start = False, {}, "", 0
    for number, line in enumerate(lines, 1):
        if line.lstrip().startswith("```"):
            in_block, variables, pending = not in_block, {}, ""
            prose.append("")
            continue
        if not in_block:
            prose.append(line)
            continue
        prose.append("")
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        text, pending = pending + line, ""
        try:
            words = shlex.split(text, comments=True)
        except ValueError:
            words = []
        if len(words) == 1 and ASSIGNMENT.match(words[0]) and "$(" not in text:
            key, value = words[0].split("=", 1)
            variables[key] = expand(value, variables)
            continue
        command = command_of(expand(text, variables), f"{name}:{start}")
        if command is not None:
            found.append(command)
    text = "\n".join(prose)
    for match in re.finditer(r"`([^`\n]+(?:\n[^`\n]+)*)`", text):
        command = command_of(match.group(1).replace("\n", " "), f"{name}:{text.count(chr(10), 0, match.start()) + 1}")
        if command is not None:
            found.append(command)
    return found


@functools.lru_cache(maxsize=None)
def all_documented_commands():
    commands = []
    for name in DOCUMENTS:
        with open(os.path.join(ROOT, name), encoding="utf-8") as f:
            commands += documented_commands(f.read(), name)
    return tuple(commands)


@functools.lru_cache(maxsize=None)
def script_module(program):
    path = os.path.join(ROOT, program)
    spec = importlib.util.spec_from_file_location("documented_" + re.sub(r"\W", "_", program), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_parser(parse, argv):
    """(ok, what it printed): the script's own parse function on argv, nothing run."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            parse(list(argv))
        except SystemExit as end:
            return end.code in (0, None), out.getvalue()
        except Exception as err:  # the scripts' UsageError and friends: the parse refused the command
            return False, f"{type(err).__name__}: {err}"
    return True, out.getvalue()


@functools.lru_cache(maxsize=None)
def help_options(program):
    """The flags --help lists as options (argparse puts each entry at an indent of two): a flag that
    the script's docstring or another flag's help merely mentions does not count."""
    ok, text = run_parser(script_module(program).parse_args, ["--help"])
    assert ok, f"{program} --help failed: {text}"
    entries = [m.group(1) for m in re.finditer(r"^  (-\S.*?)(?:  |$)", text, flags=re.M)]
    return {flag for entry in entries for flag in re.findall(r"(?<![\w-])--?[\w-]+", entry)}


def python_problems(command):
    """What is wrong with a documented python command or fragment (nothing: an empty list)."""
    if not command.program:
        return [f"{command.where}: no .py script in `{shlex.join(command.argv)}`"]
    if not os.path.isfile(os.path.join(ROOT, command.program)):
        return [f"{command}: {command.program} does not exist"]
    parse = getattr(script_module(command.program), "parse_args", None)
    if parse is None:
        return [f"{command}: {command.program} exposes no parse_args(argv)"]
    # a command a reader cannot paste: a variable no line above sets, a placeholder such as <ckpt>, ...
    problems = [f"{command}: {token} is not a value" for token in command.argv
                if "$" in token or re.fullmatch(r"<[^>]*>|\.\.\.", token)]
    if command.kind == "python":
        ok, text = run_parser(parse, command.argv)
        if not ok:
            problems.append(f"{command}: its parser refuses it: {text.strip()}")
    options = help_options(command.program)
    for token in command.argv:
        flag = token.split("=", 1)[0]
        if re.fullmatch(r"--?[A-Za-z][\w-]*", flag) and flag not in options:
            problems.append(f"{command}: {flag} is not in {command.program} --help")
    return problems


def bash_problems(command, tmp_path):
    path = os.path.join(ROOT, command.program)
    if not command.program.startswith("scripts/") or not os.path.isfile(path):
        return [f"{command}: {command.program} does not exist"]
    syntax = subprocess.run(["bash", "-n", path], capture_output=True, text=True)
    if syntax.returncode != 0:
        return [f"{command}: bash -n fails: {syntax.stderr.strip()}"]
    with open(path, encoding="utf-8") as f:
        if "common.sh" not in f.read():
            return []  # no DRY_RUN (scripts/gpu_check.sh runs its checks): the syntax is all to check here
    env = {k: v for k, v in os.environ.items() if k not in SCRIPT_KNOBS}
    env.update({"SAVE_ROOT": str(tmp_path / "save"), **dict(command.env), "DRY_RUN": "1"})
    done = subprocess.run(["bash", path, *command.argv], env=env, cwd=str(tmp_path), capture_output=True,
                          text=True, timeout=60)
    if done.returncode != 0:
        return [f"{command}: DRY_RUN=1 exits {done.returncode}: {done.stderr.strip()[-500:]}"]
    # The scripts pass their knobs (DAS, PAIRS, ...) on unchecked: the commands they print must parse.
    printed = {command_of(line, f"{command.where}, printed by {command.program}") for line in done.stdout.splitlines()}
    return [problem for run in printed if run is not None and run.kind == "python" for problem in python_problems(run)]


def commands_of(kind):
    return [c for c in all_documented_commands() if c.kind == kind]


@pytest.mark.parametrize("command", commands_of("python") + commands_of("fragment"), ids=str)
def test_documented_python_command_parses_and_its_flags_are_in_help(command):
    assert python_problems(command) == []


@pytest.mark.parametrize("command", commands_of("bash"), ids=str)
def test_documented_shell_command_dry_runs(command, tmp_path):
    assert bash_problems(command, tmp_path) == []


@pytest.mark.parametrize("command", commands_of("pytest"), ids=str)
def test_documented_test_files_exist(command):
    paths = [a.split("::")[0] for a in command.argv if a.startswith("tests")]
    assert all(os.path.exists(os.path.join(ROOT, p)) for p in paths), command


def test_every_script_has_documented_commands():
    """The check covers the scripts: an extraction that found nothing would pass vacuously."""
    full = {c.program for c in commands_of("python")}
    assert set(TOP_SCRIPTS) <= full
    assert {"scripts/quickstart.sh", "scripts/cpu_study.sh", "scripts/imagenet.sh"} <= {c.program for c in
                                                                                           commands_of("bash")}


def test_a_bogus_or_renamed_flag_is_reported():
    doc = """
Distil with `python train_student.py --path_t t.pth --no_such_flag 1`, then

```bash
KD="-r 0.1 -a 0.9 -b 0 --lw_mix [1,0,1]"
OMP_NUM_THREADS=1 python train_student.py --path_t t.pth $KD \\
    --mix_mod cutmix
```
and `eval_da_goodness.py --renamed_flag 3`.
"""
    found = documented_commands(doc, "doc.md")
    assert [(c.where, c.kind, c.program) for c in found] == [
        ("doc.md:6", "python", "train_student.py"), ("doc.md:2", "python", "train_student.py"),
        ("doc.md:9", "fragment", "eval_da_goodness.py")]
    block, inline, fragment = found
    assert block.env == (("OMP_NUM_THREADS", "1"),)
    assert block.argv[2:11] == ("-r", "0.1", "-a", "0.9", "-b", "0", "--lw_mix", "[1,0,1]", "--mix_mod")
    # argparse accepts the prefix --mix_mod for --mix_mode: only the --help check catches the rename
    assert python_problems(block) == [f"{block}: --mix_mod is not in train_student.py --help"]
    placeholders = python_problems(documented_commands("`python tune_da.py --path_t <ckpt> --out $OUT ...`", "d")[0])
    assert [p.split(": ", 2)[2] for p in placeholders[:3]] == [
        "<ckpt> is not a value", "$OUT is not a value", "... is not a value"]
    assert "its parser refuses it: UsageError: unrecognized arguments: ..." in placeholders[3]
    refused, missing = python_problems(inline)
    assert "its parser refuses it" in refused and "--no_such_flag" in refused
    assert missing.endswith("--no_such_flag is not in train_student.py --help")
    assert python_problems(fragment) == [f"{fragment}: --renamed_flag is not in eval_da_goodness.py --help"]


def test_torchrun_and_srun_launches_are_read_up_to_the_script():
    doc = ("```bash\nS=\"train_student.py --path_t t.pth --model_s resnet8\"\n"
           "torchrun --standalone --nproc_per_node=8 $S --epochs 2\n"
           "srun --nodes=2 torchrun --rdzv_endpoint=$HEAD_NODE:29500 $S\n```\n")
    first, second = documented_commands(doc, "doc.md")
    assert first.program == second.program == "train_student.py"
    assert first.argv == ("--path_t", "t.pth", "--model_s", "resnet8", "--epochs", "2")
    assert second.argv == first.argv[:4]
    assert python_problems(first) == [] and python_problems(second) == []


def test_a_missing_shell_script_or_a_knob_its_commands_refuse_is_reported(tmp_path):
    gone, = documented_commands("`DRY_RUN=1 bash scripts/no_such_study.sh`", "doc.md")
    assert bash_problems(gone, tmp_path) == [f"{gone}: scripts/no_such_study.sh does not exist"]
    bad, = documented_commands("`DAS=no_such_da PAIRS=vgg13:vgg8 TRIALS=1 bash scripts/s_test_loss_cifar100.sh`",
                               "doc.md")
    problem, = bash_problems(bad, tmp_path)
    assert problem.startswith("doc.md:1, printed by scripts/s_test_loss_cifar100.sh: train_student.py ")
    assert "its parser refuses it" in problem and "no_such_da" in problem


def test_readme_is_a_short_front_door_to_docs():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert len(readme.splitlines()) <= 250
    pages = {link for link in re.findall(r"\]\((docs/[\w.-]+\.md)", readme)}
    assert len({p for p in pages if os.path.isfile(os.path.join(ROOT, p))}) >= 4
    assert "@inproceedings{" in readme and "What Makes a" in readme


def anchors(path):
    """The anchors GitHub gives a markdown file's headings."""
    with open(path, encoding="utf-8") as f:
        headings = re.findall(r"^#+ (.+)$", re.sub(r"```.*?```", "", f.read(), flags=re.S), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("name", DOCUMENTS)
def test_relative_links_lead_to_files_and_headings(name):
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        text = re.sub(r"```.*?```|`[^`]*`", "", f.read(), flags=re.S)  # code is not links
    folder = os.path.dirname(os.path.join(ROOT, name))
    for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)", text):
        if "://" in target:
            continue
        path = os.path.relpath(os.path.normpath(os.path.join(folder, target or os.path.basename(name))), ROOT)
        if path in WRITTEN_ELSEWHERE:
            continue
        assert os.path.exists(os.path.join(ROOT, path)), f"{name}: {target}"
        assert not anchor or anchor in anchors(os.path.join(ROOT, path)), f"{name}: {target}#{anchor}"
