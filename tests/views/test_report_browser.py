"""The report in a real headless browser (Debian's Chromium through Selenium), at 900 and 1400 px wide.

Two real sweeps: tinylm (tiny) on the simulated dataset with internal metrics and a task that fails
at one checkpoint, and a run whose every cell fails. Checked in the browser: nothing overflows the
page sideways (wide tables scroll inside their own box), every image loads, the failures are
listed with their logs, and a run where nothing succeeded says so at the top. Full-page
screenshots go to each run's ``screenshots/`` folder and, when ``HARNESS_ARTIFACTS`` is set (CI),
are copied there.

Skipped only where Chromium, its WebDriver or Selenium is not installed, and never when
``HARNESS_REQUIRE_BROWSER`` is set (``.ci/run`` sets it, after ``make browser`` installs them).
"""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import pytest

from harness.plan.config import parse_config
from harness.sweep.driver import run_sweep
from harness.util.threads import torch_threads
from tests.support.plugin_packages import activate, write_plugin_package

WIDTHS = (900, 1400)
QUIZ_PLUGIN = '''
from harness import hookimpl, PluginOptions, Score, Task


class Quiz(Task):
    """Instruction following that rises with the step; fails at the steps in ``fail_at`` (all: ``fail_all``)."""

    name = "quiz"

    class Options(PluginOptions):
        fail_at: list[int] = []
        fail_all: bool = False

    def evaluate(self, model, *, seed, workdir):
        step = model.checkpoint.step
        if self.options.fail_all or step in self.options.fail_at:
            raise RuntimeError(f"quiz: no answer key for step {step}")
        follows = min(1.0, step / 8)
        return [Score("follows_format", follows, scope="instruction"), Score("correct", 0.3 * follows, scope="instruction"),
                Score("acc", 0.25 + 0.02 * step, scope="cloze")]


@hookimpl
def register_tasks(register):
    register(Quiz)
'''


def _browser_or_skip() -> tuple[str, str]:
    """Chromium's and chromedriver's paths; a skip (a failure under HARNESS_REQUIRE_BROWSER) when absent."""
    chromium = next((found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))), None)
    driver = shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing = "selenium is not installed (pip install -e '.[dev]')"
    else:
        missing = "" if chromium and driver else "Chromium or chromedriver is not installed (apt-get install chromium chromium-driver, or make browser)"
    if missing:
        if os.environ.get("HARNESS_REQUIRE_BROWSER"):
            pytest.fail(f"HARNESS_REQUIRE_BROWSER is set but {missing}")
        pytest.skip(missing)
    assert chromium and driver
    return chromium, driver


@pytest.fixture(scope="module")
def driver():
    chromium, chromedriver = _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(argument)
    browser = webdriver.Chrome(options=options, service=Service(chromedriver))
    yield browser
    browser.quit()


def _quiz_site(root: Path, patch: pytest.MonkeyPatch) -> None:
    activate(write_plugin_package(root / "site", "quizplug", QUIZ_PLUGIN), patch)
    patch.setenv("HARNESS_CACHE", str(root / "cache"))
    patch.delenv("HARNESS_PLUGINS", raising=False)


MODEL = {"family": "tinylm", "label": "tinylm", "options": {"size": "tiny", "progress": False}}


# one fixture per run, and each test takes every width: under pytest-xdist no run is built twice
@pytest.fixture(scope="module")
def partial_run(tmp_path_factory) -> Path:
    """tinylm (tiny) on the simulated dataset (with nuisance bands: r2_unique maps) with a metric and a task that
    fails at step 4."""
    root = tmp_path_factory.mktemp("browser")
    with pytest.MonkeyPatch.context() as patch, torch_threads(1):  # a 32-wide model: threads only contend
        _quiz_site(root, patch)
        config = parse_config({
            "run": str(root / "partial"), "models": [{**MODEL, "checkpoints": [0, 1, 2, 4, 8, 16]}],
            "brain": [{"dataset": "simulated", "options": {"subjects": 2, "stories": 4, "words_per_story": 150, "voxels": 256},
                       "encoding": {"folds": 3, "alphas": [1, 10, 100, 1000], "permutations": 19, "permutations_at": "last",
                                    "nuisance": ["word_rate", "word_length"]}}],
            "tasks": [{"task": "quiz", "options": {"fail_at": [4]}}],
            "metrics": [{"metric": "geometry"}],
            "features": {"context_tokens": 32, "stride": 16},
        })
        summary = run_sweep(config, show_progress=False)
    assert summary.failed == 1 and summary.report is not None, summary.errors
    return root / "partial"


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory) -> Path:
    """A run whose every cell fails."""
    root = tmp_path_factory.mktemp("browser")
    with pytest.MonkeyPatch.context() as patch, torch_threads(1):
        _quiz_site(root, patch)
        config = parse_config({"run": str(root / "failed"), "models": [{**MODEL, "checkpoints": [0, 16]}],
                               "tasks": [{"task": "quiz", "options": {"fail_all": True}}]})
        summary = run_sweep(config, show_progress=False)
    assert summary.done == 0 and summary.failed == 2 and summary.report is not None
    return root / "failed"


OFFENDERS = """
const width = window.innerWidth, out = [];
for (const el of document.body.querySelectorAll('*')) {
  let clipped = false;
  for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
    if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(up).overflowX)) { clipped = true; break; }
  }
  const box = el.getBoundingClientRect();
  if (!clipped && box.width > 0 && box.right > width + 1) out.push(`${el.tagName}.${el.className} right=${Math.round(box.right)}`);
}
return out;
"""
IMAGES = "return [...document.images].map(img => [img.alt, img.complete, img.naturalWidth]);"
FIRST_FIGURE = "const img = document.images[0]; return img ? img.getBoundingClientRect().top + window.scrollY : -1;"
UNCAPTIONED = """return [...document.images].filter(img => {
  const caption = img.closest('figure') && img.closest('figure').querySelector('figcaption');
  return !(caption && caption.textContent.trim());
}).map(img => img.alt);"""


def _render(driver, run: Path, width: int) -> dict:
    """Load the run's report at ``width`` px, take a full-page screenshot, and measure the page."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": width, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
    driver.get((run / "report.html").as_uri())
    shot = base64.b64decode(driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"])
    path = run / "screenshots" / f"report-{width}.png"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(shot)
    artifacts = os.environ.get("HARNESS_ARTIFACTS")
    if artifacts:
        target = Path(artifacts) / "report-screenshots" / f"{run.name}-{width}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return {
        "inner": driver.execute_script("return window.innerWidth"),
        "scroll": driver.execute_script("return Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"),
        "offenders": driver.execute_script(OFFENDERS),
        "images": driver.execute_script(IMAGES),
        "first_figure": driver.execute_script(FIRST_FIGURE),
        "uncaptioned": driver.execute_script(UNCAPTIONED),
        "unboxed_tables": driver.execute_script("return [...document.querySelectorAll('table')].filter(t => !t.parentElement.classList.contains('scroll')).length"),
        "text": driver.execute_script("return document.body.innerText"),
        "screenshot": path,
    }


def _fits(page: dict, width: int) -> None:
    assert page["inner"] == width
    assert page["scroll"] <= width, (width, page["offenders"])
    assert page["offenders"] == [], width
    assert page["unboxed_tables"] == 0, width  # every table scrolls inside its own box


def test_report_fits_the_page_and_its_images_load(driver, partial_run):
    for width in WIDTHS:
        page = _render(driver, partial_run, width)
        _fits(page, width)
        images = page["images"]
        assert len(images) >= 4, images  # triple-phase figure, internal metrics, layer map, brain map
        assert all(complete and natural > 0 for _, complete, natural in images), images
        assert any(alt.startswith("brain map: tinylm on simulated, SIM01 (per-vertex r on the cortical surface") for alt, _, _ in images)
        assert any(alt.startswith("r2_unique map: tinylm on simulated, SIM01 (per-vertex r2_unique on the cortical surface")
                   for alt, _, _ in images)
        assert 0 < page["first_figure"] <= 1600, (width, page["first_figure"])  # the phase figure, before the tables
        assert images[0][0].startswith("triple-phase figure") and page["uncaptioned"] == [], page["uncaptioned"]
        text = page["text"]
        assert "simulation for validating the pipeline, not evidence about brains" in text
        assert "voxels passing FDR q 0.05 (block permutations) at step 16" in text  # permuted at the last checkpoint only
        assert "step 0" not in text.split("voxels passing FDR", 1)[1].split("\n", 1)[0]
        assert "At a glance" in text and "r_mean_norm" in text and "r_top" in text and "SIM01" in text
        assert "the variance the model explains beyond word length, word rate" in text and "r_joint" in text
        assert "Failures" in text and "tinylm|4|task|quiz|-" in text and "quiz: no answer key for step 4" in text
        assert "logs/cells/tinylm_4_task_quiz_-.log" in text
        assert page["screenshot"].read_bytes().startswith(b"\x89PNG")
    assert (partial_run / "logs/cells/tinylm_4_task_quiz_-.log").is_file()


def test_a_run_where_nothing_succeeded_says_so(driver, failed_run):
    for width in WIDTHS:
        page = _render(driver, failed_run, width)
        _fits(page, width)
        text = page["text"]
        assert "Nothing succeeded. All 2 cells of this run failed" in text
        assert "quiz: no answer key for step" in text and "logs/cells/tinylm_0_task_quiz_-.log" in text
        assert page["images"] == []
