"""Moved to :mod:`pyrkt.linux.cgroups.warm`; this name stays for code written before the move.

The module object itself is put under this name too (one module, one state).
"""

import sys

from pyrkt.linux.cgroups import warm as _moved

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from pyrkt.linux.cgroups.warm import *  # noqa: F403

sys.modules[__name__] = _moved
