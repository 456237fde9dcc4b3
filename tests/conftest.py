"""Shared test set-up: the course always runs its tests on the CPU, where results are deterministic."""
import os

# nbval starts notebook kernels from this environment: stored outputs were made on the CPU.
os.environ["COURSE_DEVICE"] = "cpu"
