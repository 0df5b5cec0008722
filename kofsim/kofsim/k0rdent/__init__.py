"""The simulated k0rdent layer on a kofsim management cluster (see kcm.py, sveltos.py)."""
from .layer import K0rdent  # noqa: F401
