"""What every step and every evaluation needs at run time, beside its models, as one object."""
from dataclasses import dataclass, field

from helper.core.processes import Processes
from helper.data.splits import Normalize


@dataclass(frozen=True)
class Runtime:
    """normalize: the data set's Normalize (uint8 or [0, 1] images -> model inputs); amp: bfloat16
    autocast (--amp); processes: this process's place among the training processes."""
    normalize: Normalize
    amp: bool = False
    processes: Processes = field(default_factory=Processes)
