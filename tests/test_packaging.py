"""The set-up a newcomer trusts: requirements, Binder, README commands, CI, navigation."""
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pins(path: Path) -> dict[str, str]:
    """{normalized name: version} of the `name==version` lines of a requirements file."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if match:
            found[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return found


def test_binder_pins_the_same_versions_as_requirements():
    top, binder = pins(ROOT / "requirements.txt"), pins(ROOT / "binder" / "requirements.txt")
    assert top.pop("torch") == "2.13.0"
    assert binder.pop("torch").split("+")[0] == "2.13.0"  # a CPU-only build of the same version
    assert top == binder


def test_requirements_pin_what_the_course_needs():
    top = pins(ROOT / "requirements.txt")
    for name in ("torch", "jupyterlab", "ipywidgets", "matplotlib", "nbval", "pytest", "tqdm", "numpy"):
        assert name in top, f"requirements.txt should pin {name}"
    assert "-e ." in (ROOT / "requirements.txt").read_text().splitlines()


def test_pyproject_ranges_are_loose():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "course_utils"
    for dependency in project["dependencies"]:
        assert "==" not in dependency, f"pyproject.toml should not pin exactly: {dependency}"


def test_version_claims_match_what_the_pinned_packages_need():
    """README and pyproject say which Python and torch the course needs; the installed metadata agrees."""
    from importlib.metadata import metadata, version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    floor = re.fullmatch(r">=(3\.\d+)", project["requires-python"])[1]
    assert f"Python ≥ {floor}" in (ROOT / "README.md").read_text()
    as_tuple = lambda text: tuple(int(part) for part in text.split("."))  # noqa: E731
    assert sys.version_info[:2] >= as_tuple(floor)
    for name in pins(ROOT / "requirements.txt"):
        needs = metadata(name).get("Requires-Python") or ""
        for lower in re.findall(r">=\s*(3\.\d+)", needs):
            assert as_tuple(floor) >= as_tuple(lower), (
                f"pyproject says Python >= {floor}, but the pinned {name} needs Python >= {lower}")
    torch_floor = next(d for d in project["dependencies"] if d.startswith("torch"))
    assert as_tuple(version("torch").split("+")[0])[:2] >= as_tuple(torch_floor.split(">=")[1])
    import torch  # what the code uses must be there (torch.accelerator's memory API came in 2.9)
    for name in ("current_accelerator", "synchronize", "empty_cache", "max_memory_allocated",
                 "reset_peak_memory_stats"):
        assert hasattr(torch.accelerator, name), name


def test_binder_files():
    assert (ROOT / "binder" / "runtime.txt").read_text().strip() == "python-3.11"
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert "saveState" in post_build and "pip install" in post_build
    assert (ROOT / "binder" / "postBuild").stat().st_mode & 0o111


def quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [line for block in blocks for line in block.strip().splitlines()]


def test_readme_has_two_one_line_commands_and_ci_runs_the_test_one():
    commands = quick_start_commands()
    assert len(commands) == 2
    open_course, run_tests = commands
    # rooted at the repository, so README and the links between notebooks resolve in JupyterLab
    assert "jupyter lab --ServerApp.root_dir=. notebooks/00_start_here.ipynb" in open_course
    assert "-r requirements.txt" in open_course and "-r requirements.txt" in run_tests
    assert run_tests.endswith("-m pytest")
    assert run_tests in (ROOT / ".ci" / "run").read_text().splitlines()
    assert (ROOT / "notebooks" / "00_start_here.ipynb").exists()


def test_readme_binder_badge_opens_notebook_00():
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"\[!\[Open in Binder\]\(https://mybinder.org/badge_logo.svg\)\]\(https://mybinder.org/v2/gh/"
                     r"[^)]+\?urlpath=lab/tree/notebooks/00_start_here.ipynb\)", readme)


def test_navigation_and_course_map_are_up_to_date():
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "make_nav.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_quiz_file_is_valid_and_used():
    import course_utils as cu
    quizzes = sorted((ROOT / "notebooks" / "quizzes").glob("*.json"))
    assert quizzes
    sources = " ".join(p.read_text() for p in (ROOT / "notebooks").glob("*.ipynb"))
    for path in quizzes:
        questions = cu.load_quiz(path)
        assert 3 <= len(questions) <= 6, f"{path.name}: {len(questions)} questions"
        assert f"quizzes/{path.name}" in sources, f"{path.name} is not shown by any notebook"


def test_no_machine_paths_in_tracked_files():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    # (written with [k]-style classes so that this file does not match itself)
    pattern = re.compile(r"(/wor[k]/|/roo[t]/|/hom[e]/\w|/tmp/datage[n]|/User[s]/)")
    for name in files:
        path = ROOT / name
        if path.suffix in {".npz", ".png"} or not path.is_file():
            continue
        text = path.read_text(errors="ignore")
        assert not pattern.search(text), f"{name} contains a path of one machine: {pattern.search(text)[0]}"
