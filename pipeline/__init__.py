"""Check military withdrawal claims independently from public satellite imagery."""

import os

# The pipeline's matrix products are small (bands x bands) or tall-and-thin: OpenBLAS threads
# spin-wait for work there and, on a shared machine, make them 10x slower. One thread unless
# the user says otherwise (must be set before numpy is first imported).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

__version__ = "0.1.0"
