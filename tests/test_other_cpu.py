"""The stored outputs come out again on another kind of CPU: every notebook under nbval, emulated.

PyTorch picks its vector kernels at run time (default / AVX2 / AVX-512 on x86, NEON/SVE on ARM) and MKL its
code path, and they round differently: a learner's laptop is not the machine that stored the outputs.
``ATEN_CPU_CAPABILITY=default`` (PyTorch's plain kernels, which no AVX2 or AVX-512 machine picks by itself)
with ``MKL_CBWR=COMPATIBLE`` (MKL's most conservative path) makes this machine round like another one; the
whole notebook suite must still pass, with the comparison rules of ``tests/nbval_numbers.py``.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_every_notebook_passes_nbval_on_an_emulated_other_cpu():
    env = dict(os.environ, ATEN_CPU_CAPABILITY="default", MKL_CBWR="COMPATIBLE", COURSE_DEVICE="cpu")
    result = subprocess.run([sys.executable, "-m", "pytest", "notebooks", "-q", "-p", "no:cacheprovider",
                             "--no-header", "-x"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
