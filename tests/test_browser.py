"""Every notebook, run in a real JupyterLab in a real browser (headless Chromium), as a student would.

For each notebook in notebooks/ (new ones are picked up automatically): open it in JupyterLab, run all
cells, fail on any error or stderr output, then move the first slider of every interactive demo (and
click its Run button, if it has one) and check that its figure is redrawn. One more test presents
notebook 00 live with jupyterlab-rise and moves the slider on its slide; another opens an offline slide
deck from tools/build_slides.py. A failure leaves a screenshot, the browser console and the server log in
test-artifacts/.

Needs Debian's `chromium` and `chromium-driver`; without them the tests are skipped with a warning
(and fail when CI=true, where .ci/run installs them).
"""
from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import nbformat
import pytest

from browser_support import ROOT, LabServer, copy_notebook, find_chromium, make_driver, save_failure

pytestmark = pytest.mark.browser

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
RUN_ALL_TIMEOUT = 180   # s per notebook on a slow 2-core machine (the budget is 60 s of computing)
REDRAW_TIMEOUT = 30     # s for a slider demo to redraw its figure
TRAIN_TIMEOUT = 90      # s for a demo with a Run button (it trains) to draw its figure
POLL = 0.25


def wait_for(condition, timeout: float, what: str, poll: float = POLL):
    """Poll `condition()` until it returns something truthy; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last state: {last!r})")


# ---------------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def chromium() -> tuple[str, str]:
    found = find_chromium()
    if found is None:
        message = ("BROWSER TESTS NOT RUN: Chromium and chromedriver were not found (/usr/bin/chromium, "
                   "/usr/bin/chromedriver). Install them with `apt-get install chromium chromium-driver` "
                   "to test the notebooks in a real JupyterLab.")
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + " (CI=true: .ci/run installs them, so their absence is an error here)")
        warnings.warn(message, pytest.PytestWarning, stacklevel=1)
        pytest.skip(message)
    return found


@pytest.fixture(scope="session")
def lab(chromium, tmp_path_factory) -> LabServer:
    root = tmp_path_factory.mktemp("lab-root")
    for notebook in NOTEBOOKS:
        copy_notebook(notebook, root / "notebooks")
    server = LabServer(root, tmp_path_factory.mktemp("lab-home")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser(chromium, lab, tmp_path_factory):
    driver = make_driver(*chromium, tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


@pytest.fixture
def page(request, browser, lab):
    """The browser, leaving artifacts if the test fails, and a clean page and no kernels afterwards."""
    with contextlib.suppress(Exception):
        browser.get_log("browser")  # drop earlier console messages
    yield browser
    if getattr(request.node, "_browser_failed", False):
        saved = save_failure(browser, request.node.name, lab)
        print("saved:", ", ".join(str(p.relative_to(ROOT)) for p in saved))
    leave_page(browser)
    lab.shutdown_kernels()


@contextlib.contextmanager
def artifacts_on_failure(request):
    try:
        yield
    except BaseException:
        request.node._browser_failed = True
        raise


def leave_page(driver) -> None:
    with contextlib.suppress(Exception):  # no "leave site? unsaved changes" dialog
        driver.execute_script("""
            const app = window.jupyterapp;
            if (app) for (const w of app.shell.widgets('main')) if (w.context) w.context.model.dirty = false;""")
    with contextlib.suppress(Exception):
        driver.get("about:blank")
    with contextlib.suppress(Exception):
        driver.switch_to.alert.accept()


# --------------------------------------------------------------------------------------- in JupyterLab

STATE_JS = """
const app = window.jupyterapp;
if (!app) return {stage: 'loading JupyterLab'};
const panel = app.shell.currentWidget;
if (!panel || !panel.context || panel.context.path !== arguments[0] || !panel.context.isReady)
    return {stage: 'opening the notebook'};
const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
const cells = panel.content.widgets.filter(c => c.model.type === 'code');
const problems = [];
for (const [k, c] of cells.entries()) {
    for (const o of c.model.outputs.toJSON()) {
        if (o.output_type === 'error') problems.push(`code cell ${k + 1}: ${o.ename}: ${o.evalue}`);
        if (o.output_type === 'stream' && o.name === 'stderr')
            problems.push(`code cell ${k + 1} wrote to stderr: ${String(o.text).slice(0, 800)}`);
    }
}
for (const node of panel.content.node.querySelectorAll(
        '[data-mime-type="application/vnd.jupyter.stderr"], .jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]')) {
    const text = node.innerText.slice(0, 800);
    if (!problems.some(p => p.includes(text.slice(0, 60)))) problems.push(`error output: ${text}`);
}
const widgetCells = cells.filter(c => c.model.outputs.toJSON().some(
    o => o.data && o.data['application/vnd.jupyter.widget-view+json']));
return {
    stage: 'ready',
    kernel: kernel ? kernel.status + '/' + kernel.connectionStatus : 'none',
    cells: cells.length,
    executed: cells.filter(c => c.model.executionCount !== null).length,
    running: cells.filter(c => c.model.executionState === 'running' || c.promptNode.textContent.includes('*')).length,
    widgets: widgetCells.length,
    widgetsShown: widgetCells.filter(c => c.outputArea.node.querySelector('.jupyter-widgets')).length,
    problems: problems,
};
"""


def lab_state(driver, path: str) -> dict:
    return driver.execute_script(STATE_JS, path) or {}


def open_notebook(driver, lab: LabServer, path: str) -> None:
    driver.get(f"{lab.url}lab/tree/{path}?reset&token={lab.token}")
    wait_for(lambda: lab_state(driver, path).get("kernel") == "idle/connected", 120,
             f"JupyterLab to open {path} with an idle kernel")


def run_all_cells(driver, path: str) -> dict:
    driver.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells')")

    def finished():
        state = lab_state(driver, path)
        if state.get("problems"):
            return state  # stop waiting: run-all stops at an error
        done = (state.get("executed") == state.get("cells") and not state.get("running")
                and state.get("kernel") == "idle/connected")
        return state if done else None

    state = wait_for(finished, RUN_ALL_TIMEOUT, f"all cells of {path} to run")
    assert not state["problems"], f"{path}: errors while running all cells:\n" + "\n".join(state["problems"])
    wait_for(lambda: (s := lab_state(driver, path))["widgetsShown"] == s["widgets"], 60,
             f"the widgets of {path} to be displayed")
    return lab_state(driver, path)


# ------------------------------------------------------------------------------------ interactive demos

DEMO_JS = """
const demo = arguments[0];
const slider = demo.querySelector('.widget-slider, .widget-hslider');
const images = demo.querySelectorAll('.widget-output img');
const output = demo.querySelector('.widget-output');
const button = Array.from(demo.querySelectorAll('.widget-button')).find(b => /run/i.test(b.textContent))
               || demo.querySelector('.widget-button');
return {
    readout: slider && slider.querySelector('.widget-readout') ? slider.querySelector('.widget-readout').textContent : null,
    value: slider && slider.querySelector('.noUi-handle') ? slider.querySelector('.noUi-handle').getAttribute('aria-valuenow') : null,
    src: images.length ? images[images.length - 1].getAttribute('src') : null,
    text: output ? output.innerText.slice(0, 600) : '',
    errors: output ? Array.from(output.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]'))
                           .map(e => e.innerText.slice(0, 600)) : [],
    label: slider && slider.querySelector('.widget-label') ? slider.querySelector('.widget-label').textContent : '',
    button: button ? button.textContent : null,
};
"""


def demo_state(driver, demo) -> dict:
    return driver.execute_script(DEMO_JS, demo)


def short(src: str | None) -> str:
    return "no figure" if not src else f"a figure ({len(src)} characters, ending ...{src[-24:]})"


def exercise_demo(driver, demo, name: str, drag: bool = False) -> str:
    """Move the demo's first slider (and click Run, if any); return once its figure has changed.

    The slider moves by keyboard (click its handle, then ArrowRight), or with `drag` by dragging the
    handle with the mouse, as a presenter does in a slideshow (where arrow keys change the slide).
    """
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    if not drag:
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", demo)
    state = demo_state(driver, demo)
    assert state["readout"] is not None or state["value"] is not None, f"{name}: no slider in this demo"
    manual = state["button"] is not None
    if not manual:  # `interact` draws at once: wait for the first figure
        state = wait_for(lambda: (s := demo_state(driver, demo))["src"] and s, REDRAW_TIMEOUT,
                         f"{name} to draw its first figure")
    before = state

    handle = demo.find_element("css selector", ".widget-slider .noUi-handle, .widget-hslider .noUi-handle")
    at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
    if drag:  # wait until the slide has stopped moving (reveal.js transitions), so the mouse hits the handle
        rect = "const r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.width];"
        last = [None]

        def settled():
            now = driver.execute_script(rect, handle)
            still, last[0] = now == last[0] and now[2] > 0, now
            return still

        wait_for(settled, 10, "the slide to stop moving", poll=0.3)
        step = -20 if at_max else 20  # in small steps, as a hand moves: one big jump is not a drag
        moves = [lambda: ActionChains(driver).click_and_hold(handle).pause(0.2).move_by_offset(step, 0).pause(0.2)
                 .move_by_offset(step, 0).pause(0.2).move_by_offset(step, 0).pause(0.2).release().perform()]
    else:  # ArrowLeft if the slider is already at its maximum
        moves = [lambda key=key: ActionChains(driver).move_to_element(handle).click(handle).send_keys(key).perform()
                 for key in ((Keys.ARROW_LEFT,) if at_max else (Keys.ARROW_RIGHT, Keys.ARROW_LEFT))]
    for move in moves:
        move()
        with contextlib.suppress(AssertionError):
            wait_for(lambda: (s := demo_state(driver, demo))["value"] != before["value"]
                     or s["readout"] != before["readout"], 5, "the slider to move", poll=0.1)
            break
    moved = demo_state(driver, demo)
    assert (moved["value"], moved["readout"]) != (before["value"], before["readout"]), \
        f"{name}: the slider '{before['label']}' did not move (value {before['readout']})"

    if manual:
        demo.find_element("css selector", ".widget-button").click()

    def redrawn():
        s = demo_state(driver, demo)
        if s["errors"]:
            return s
        return s if s["src"] and s["src"] != before["src"] else None

    after = wait_for(redrawn, TRAIN_TIMEOUT if manual else REDRAW_TIMEOUT,
                     f"{name} to redraw its figure after '{before['label']}' moved "
                     f"{before['readout']} -> {moved['readout']}")
    assert not after["errors"], f"{name}: the demo wrote an error: {after['errors']}"
    return f"{before['label']} {before['readout']} -> {moved['readout']}: {short(before['src'])} -> {short(after['src'])}"


def interactive_demos(driver, root_css: str = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"):
    """The ipywidgets `interact` containers that hold a slider, in page order."""
    return driver.execute_script(
        "const root = document.querySelector(arguments[0]) || document;"
        "return Array.from(root.querySelectorAll('.widget-interact'))"
        "    .filter(d => d.querySelector('.widget-slider, .widget-hslider'));", root_css)


def stored_demo_count(notebook: Path) -> int:
    """Code cells that display an ipywidgets `interact`/`interact_manual`, judged from the source."""
    nb = nbformat.read(notebook, as_version=4)
    return sum(bool(re.search(r"\binteract(_manual)?\s*\(", cell.source))
               for cell in nb.cells if cell.cell_type == "code")


# -------------------------------------------------------------------------------------------------- tests

@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_its_sliders_redraw(request, page, lab, notebook):
    path = f"notebooks/{notebook.name}"
    with artifacts_on_failure(request):
        start = time.monotonic()
        open_notebook(page, lab, path)
        run_all_cells(page, path)
        ran = time.monotonic() - start
        demos = interactive_demos(page)
        expected = stored_demo_count(notebook)
        assert len(demos) >= expected, (f"{path}: {expected} interactive demos in the source, "
                                        f"{len(demos)} with a slider on the page")
        report = [exercise_demo(page, demo, f"{path}, demo {k}") for k, demo in enumerate(demos, 1)]
        state = lab_state(page, path)
        assert not state["problems"], f"{path}: errors after moving the sliders:\n" + "\n".join(state["problems"])
        print(f"{path}: ran all cells in {ran:.1f} s; demos: {report or 'none'}")


RISE_JS = """
const slides = Array.from(document.querySelectorAll('.reveal .slides section.present'));
const current = slides.length ? slides[slides.length - 1] : null;
const demo = current ? Array.from(current.querySelectorAll('.widget-interact'))
                            .find(d => d.querySelector('.widget-slider, .widget-hslider')) : null;
return {ready: !!document.querySelector('.reveal .slides section'), demo: demo || null,
        where: current ? (current.innerText || '').trim().slice(0, 80) : null};
"""


def test_live_slides_with_jupyterlab_rise(request, page, lab):
    """Notebook 00 presented with jupyterlab-rise: the slider on a slide still redraws the figure."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    path = "notebooks/00_start_here.ipynb"
    with artifacts_on_failure(request):
        open_notebook(page, lab, path)
        commands = page.execute_script("return window.jupyterapp.commands.listCommands()")
        assert "RISE:slideshow" in commands, "jupyterlab-rise is not installed in JupyterLab"
        run_all_cells(page, path)
        # What the RISE:slideshow command does (it opens the URL in a new tab): save, then open /rise/<path>.
        page.execute_async_script("const done = arguments[arguments.length - 1];"
                                  "window.jupyterapp.shell.currentWidget.context.save().then(() => done(true));")
        page.get(f"{lab.url}rise/{path}?activeCellIndex=0&token={lab.token}")
        wait_for(lambda: page.execute_script(RISE_JS)["ready"], 120, "the RISE slideshow to load")
        page.find_element("css selector", "body")  # keyboard goes to the slideshow
        seen = []
        for _ in range(60):  # press space (next slide/subslide/fragment) until a slider is on the screen
            state = page.execute_script(RISE_JS)
            if state["demo"] is not None:
                break
            seen.append(state["where"])
            ActionChains(page).send_keys(Keys.SPACE).perform()
            wait_for(lambda: page.execute_script(RISE_JS)["where"] != state["where"], 10,
                     "the next slide", poll=0.1)
        else:
            raise AssertionError(f"no slide with a slider found after 60 steps; slides seen: {seen}")
        demo = wait_for(lambda: page.execute_script(RISE_JS)["demo"], 30, "the slider's slide")
        print("RISE:", exercise_demo(page, demo, f"{path} in RISE", drag=True))


def test_offline_slide_deck_opens_in_the_browser(request, page, tmp_path):
    """A deck from tools/build_slides.py runs reveal.js from its local copy (no network)."""
    out = tmp_path / "slides"
    notebook = ROOT / "notebooks" / "00_start_here.ipynb"
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "build_slides.py"), str(out), str(notebook)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    with artifacts_on_failure(request):
        page.get((out / "00_start_here.slides.html").as_uri())
        total = wait_for(lambda: page.execute_script(
            "return window.Reveal && Reveal.isReady() && Reveal.getTotalSlides()"), 30, "reveal.js to start")
        assert total >= 6
        page.execute_script("Reveal.next()")
        assert page.execute_script("return Reveal.getIndices().h + Reveal.getIndices().v") >= 1
        severe = [e["message"] for e in page.get_log("browser") if e.get("level") == "SEVERE"]
        assert not severe, f"the deck logged errors: {severe[:5]}"
