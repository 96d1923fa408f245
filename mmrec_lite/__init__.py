"""mmrec_lite: the library behind the course *Multimodal Graph Recommender Systems*.

Data flows one way: raw files -> :class:`~mmrec_lite.data.RecData` -> features -> graphs ->
model -> scores -> metrics -> tables and plots. Importing the package is light: sub-modules
that need torch_geometric, transformers or open_clip import them only when called. Importing
it also applies the CPU thread policy of :mod:`mmrec_lite.threads` (threads from the cores this
process may use, passive OpenMP waiting; variables the user set are kept).
"""
from .threads import apply_thread_policy as _apply_thread_policy

_apply_thread_policy()

__version__ = "0.1.0"

__all__ = ["__version__"]
