"""A real headless Chromium (Debian's `chromium` and `chromium-driver` packages) driven through
Selenium and /usr/bin/chromedriver. Nothing is downloaded: Selenium Manager is kept offline and
given both binaries, so where they are not installed the tests that need them skip, saying so."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1600",
)
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER = "/usr/bin/chromedriver"


def binaries() -> tuple[str, str] | None:
    browser = next((b for b in CHROMIUM if os.access(b, os.X_OK)), None)
    if browser is None or not os.access(DRIVER, os.X_OK):
        return None
    return browser, DRIVER


def load(driver: Any, url: str, timeout: float = 30.0) -> None:
    """Open `url` and wait until the document has finished loading (a loaded machine can hand
    back control while it still reads `loading`); fails after `timeout` seconds."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


@contextmanager
def chromium() -> Iterator[Any]:
    """A Selenium WebDriver on headless Chromium with a fresh profile; skips the test when the
    browser, its driver or the selenium package is missing."""
    found = binaries()
    if found is None:
        pytest.skip(
            "needs Debian's chromium and chromium-driver (apt-get install -y chromium "
            "chromium-driver; .ci/run installs them where it can)"
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("needs the selenium package (pip install -e '.[dev]')")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never fetch a browser or driver
    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=found[1]))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
