"""gattn: group-equivariant attention for PyTorch.

Subpackages: :mod:`gattn.groups` (groups and their actions), :mod:`gattn.nn` (layers),
:mod:`gattn.attention` (attention operators), :mod:`gattn.testing` (equivariance checks and
Hypothesis strategies).
"""

from . import groups

__version__ = "0.4.0"
__all__ = ["groups", "__version__"]
