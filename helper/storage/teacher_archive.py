"""Teacher checkpoints inside a zip or tar archive, whatever its layout, installed one by one.

The published archives nest CRD's folders differently (Good-DA-in-KD's teachers_cifar100.zip:
models/<arch>_vanilla/ckpt_epoch_240.pth; mdistiller's cifar_teachers.tar:
cifar_teachers/<arch>_vanilla/ckpt_epoch_240.pth), so a checkpoint is recognised by the folder
that holds it, at any depth, and never by its full path.
"""
import contextlib
import os
import shutil
import tarfile
import tempfile
import zipfile
import zlib

from helper.core.errors import CheckpointError
from helper.storage.checkpoint import arch_of_folder, load_checkpoint, model_state, save_checkpoint

CHECKPOINT_NAME = "ckpt_epoch_240.pth"
# Errors a damaged archive raises while it is listed or read.
DAMAGED = (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError)


class ArchiveError(RuntimeError):
    """An archive, or a checkpoint in it, cannot be used; one line naming it."""


@contextlib.contextmanager
def open_archive(path, label):
    """Yield (member names, open(name) -> binary file) of a zip or tar (any compression) file."""
    with contextlib.ExitStack() as stack:
        try:
            # Tar first: a tar of zip-format torch files ends like a zip and would pass for one.
            if tarfile.is_tarfile(path):
                archive = stack.enter_context(tarfile.open(path))
                members = {m.name: m for m in archive.getmembers() if m.isfile()}
                names, open_member = list(members), lambda name: archive.extractfile(members[name])
            elif zipfile.is_zipfile(path):
                archive = stack.enter_context(zipfile.ZipFile(path))
                names, open_member = [m.filename for m in archive.infolist() if not m.is_dir()], archive.open
            else:
                raise ArchiveError(f"{label}: not a complete zip or tar archive (a truncated download?)")
        except DAMAGED as err:
            raise ArchiveError(f"{label}: damaged archive ({type(err).__name__}: {err})") from None
        yield names, open_member


def arch_of_member(name, model_names):
    """The architecture of a checkpoint in an archive: the name of its folder as CRD names folders
    (<arch>_vanilla, <arch>_<dataset>_lr_...), or of the file itself at the top level; None when
    it is no checkpoint, or macOS metadata."""
    parts = [p for p in name.split("/") if p]
    if not parts or not parts[-1].endswith(".pth") or any(p.startswith(("__MACOSX", "._")) for p in parts):
        return None
    label = parts[-2] if len(parts) > 1 else parts[-1][:-len(".pth")]
    return arch_of_folder(label, model_names)


def select_members(names, wanted, model_names):
    """{arch: member} for each wanted architecture in the archive; in a folder of several
    checkpoints the final one (ckpt_epoch_240.pth) wins, else the first by name."""
    chosen = {}
    for name in sorted(names, key=lambda n: (os.path.basename(n) != CHECKPOINT_NAME, n)):
        arch = arch_of_member(name, model_names)
        if arch in wanted and arch not in chosen:
            chosen[arch] = name
    return chosen


def read_member(open_member, member, path, source):
    """The state_dict of the checkpoint `member`, copied to `path` and loaded (weights only)."""
    try:
        with open(path, "wb") as out, open_member(member) as src:
            shutil.copyfileobj(src, out)
    except DAMAGED as err:
        raise ArchiveError(f"{source}: {member} is damaged ({type(err).__name__}: {err})") from None
    try:
        return model_state(load_checkpoint(path), member)
    except CheckpointError as err:
        # Name the member, not the temporary copy the error names.
        raise ArchiveError(f"{source}: {str(err).replace(path, member)}") from None


def install_member(open_member, member, path, arch, source):
    """Write one teacher of the archive to `path` atomically as {'model': state_dict, 'arch',
    'source'}: what every script reads, without the optimizer state the published files carry."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".unpack-", suffix=".pth", dir=folder)
    os.close(fd)
    try:
        state = read_member(open_member, member, tmp, source)
        save_checkpoint({"model": state, "arch": arch, "source": f"{source}#{member}"}, path)
    finally:
        os.remove(tmp)


def install_teachers(archive_path, source, wanted, destination, model_names):
    """Install each wanted teacher the archive holds at destination(arch).
    Returns ({arch: path} installed, {arch: why its checkpoint could not be used})."""
    installed, problems = {}, {}
    with open_archive(archive_path, source) as (names, open_member):
        for arch, member in select_members(names, wanted, model_names).items():
            path = destination(arch)
            try:
                install_member(open_member, member, path, arch, source)
            except ArchiveError as err:
                problems[arch] = str(err)
            else:
                installed[arch] = path
    return installed, problems
