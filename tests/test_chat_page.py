"""The chat page in a real headless Chromium against a real server process: ask, stream,
click citation [1], see the cited span highlighted in its source document.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/install-browser`` installs them)
and selenium; skipped with the reason otherwise. The screenshots are kept under the
test's tmp dir and copied to ``tests/artifacts/`` (git-ignored).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from ragchips import default_index_path  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from server_process import running_server, server_env  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
QUESTION = "qui fabrique la puce ?"
BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("page-server") / "server.log"
    with running_server(default_index_path(), log, server_env()) as url:
        yield url


def make_browser(tmp_path: Path, width: int, height: int, phone: bool = False) -> Any:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("no /usr/bin/chromium + /usr/bin/chromedriver (run .ci/install-browser)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*BROWSER_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    if phone:  # a desktop window cannot be that narrow: emulate the phone's screen
        metrics = {"width": width, "height": height, "pixelRatio": 2.0}
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": metrics})
    else:
        options.add_argument(f"--window-size={width},{height}")
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def keep(shot: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / shot.name)


def ask_on_the_page(driver: Any, question: str) -> Any:
    """Type ``question`` and press Enter, as a keyboard user would; the answer element."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    box = driver.find_element(By.ID, "question")
    assert driver.switch_to.active_element == box  # focused on load and after each answer
    before = len(driver.find_elements(By.CSS_SELECTOR, ".msg.assistant"))
    box.send_keys(question, Keys.ENTER)

    def answered(d: Any) -> Any:
        bots = d.find_elements(By.CSS_SELECTOR, ".msg.assistant")
        return len(bots) > before and bots[-1].get_attribute("data-done") == "true" and bots[-1]

    return WebDriverWait(driver, 60).until(answered)


def test_ask_stream_and_open_the_cited_span(server: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    expected = httpx.post(
        server + "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": QUESTION}]},
        timeout=30,
    ).json()
    first = expected["citations"][0]
    answer_text = expected["choices"][0]["message"]["content"].split("\n\nSources :")[0]

    driver = make_browser(tmp_path, 1280, 900)
    try:
        driver.get(server + "/")
        assert driver.title == "ragchips"
        bot = ask_on_the_page(driver, QUESTION)
        assert "error" not in bot.get_attribute("class")
        shown = bot.find_element(By.CSS_SELECTOR, ".answer").text
        assert " ".join(shown.split()) == " ".join(answer_text.split())

        cite = bot.find_element(By.CSS_SELECTOR, "button.cite[data-n='1']")
        cite.click()
        WebDriverWait(driver, 20).until(
            lambda d: d.find_element(By.ID, "source").get_attribute("data-ready") == "true"
        )
        mark = driver.find_element(By.CSS_SELECTOR, "#source-text mark")
        highlighted = driver.execute_script("return arguments[0].textContent", mark)
        assert highlighted == first["quote"]
        document = httpx.get(f"{server}/documents/{first['doc_id']}", timeout=30).json()
        assert document["text"][first["start"] : first["end"]] == highlighted
        # Scrolled into view inside the document panel, and focused for keyboard users.
        visible = driver.execute_script(
            "const m = arguments[0].getBoundingClientRect();"
            "const p = document.getElementById('source-text').getBoundingClientRect();"
            "return m.top >= p.top - 1 && m.top < p.bottom;",
            mark,
        )
        assert visible
        assert driver.switch_to.active_element == mark
        shot = tmp_path / "chat-page.png"
        driver.save_screenshot(str(shot))
        keep(shot)

        # Escape closes the document and gives the focus back to the citation.
        from selenium.webdriver.common.keys import Keys

        mark.send_keys(Keys.ESCAPE)
        assert not driver.find_element(By.ID, "source").is_displayed()
        assert driver.switch_to.active_element == cite
    finally:
        driver.quit()


def test_readable_at_phone_width_and_fully_offline(server: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    driver = make_browser(tmp_path, 390, 844, phone=True)
    try:
        driver.get(server + "/")
        bot = ask_on_the_page(driver, QUESTION)
        assert driver.execute_script("return window.innerWidth") == 390
        width = driver.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390, "the page scrolls sideways at phone width"
        bot.find_element(By.CSS_SELECTOR, ".sources button.cite[data-n='1']").click()
        panel = driver.find_element(By.ID, "source")
        assert panel.is_displayed() and panel.size["width"] <= 390
        shot = tmp_path / "chat-page-phone.png"
        driver.save_screenshot(str(shot))
        keep(shot)
        # Every resource the page loaded came from the service itself.
        urls = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )
        assert urls and all(u.startswith(server) for u in urls), urls
        driver.get(server + "/docs")
        driver.implicitly_wait(10)
        assert driver.find_element(By.CSS_SELECTOR, ".swagger-ui .info .title")
        urls = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )
        assert all(u.startswith(server) for u in urls), urls
    finally:
        driver.quit()


def test_the_page_asks_for_the_key_of_a_protected_service(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    key = "page-key-42"
    auth = {"Authorization": f"Bearer {key}"}
    log = tmp_path / "server.log"
    with running_server(
        default_index_path(), log, server_env(), ["--api-key", key], headers=auth
    ) as url:
        driver = make_browser(tmp_path, 1024, 800)
        try:
            driver.get(url + "/")
            assert not driver.find_element(By.ID, "key-row").is_displayed()
            bot = ask_on_the_page(driver, QUESTION)
            assert "error" in bot.get_attribute("class")
            assert "API key" in bot.find_element(By.CSS_SELECTOR, ".answer").text
            key_input = driver.find_element(By.ID, "api-key")
            assert key_input.is_displayed() and driver.switch_to.active_element == key_input
            key_input.send_keys(key)
            driver.find_element(By.ID, "question").click()
            bot = ask_on_the_page(driver, QUESTION)
            assert "error" not in bot.get_attribute("class")
            assert bot.find_elements(By.CSS_SELECTOR, ".sources button.cite")
            bot.find_element(By.CSS_SELECTOR, "button.cite[data-n='1']").send_keys(Keys.ENTER)
            WebDriverWait(driver, 20).until(
                lambda d: d.find_element(By.ID, "source").get_attribute("data-ready") == "true"
            )
            mark = driver.find_element(By.CSS_SELECTOR, "#source-text mark")
            assert mark.text
        finally:
            driver.quit()


def test_a_citation_of_a_document_changed_since_the_answer_says_so(tmp_path: Path) -> None:
    """The page kept each document it had shown, and highlighted stale offsets in it (or
    old offsets in a new text) once the collection had changed."""
    import subprocess

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    docs = tmp_path / "docs"
    docs.mkdir()
    note = docs / "projet.txt"
    note.write_text("Le projet Vormalix sera construit à Grenoble en 2027.\n", "utf-8")
    ragchips = str(Path(sys.executable).parent / "ragchips")
    index = tmp_path / "idx"
    subprocess.run([ragchips, "index", str(docs), "--out", str(index), "--embedder", "hash-64"],
                   check=True, capture_output=True, timeout=120)  # fmt: skip

    def open_first_citation(driver: Any, bot: Any) -> str:
        bot.find_element(By.CSS_SELECTOR, "button.cite[data-n='1']").click()
        ready = ("true", "stale")
        WebDriverWait(driver, 20).until(
            lambda d: d.find_element(By.ID, "source").get_attribute("data-ready") in ready
        )
        return str(driver.find_element(By.ID, "source").get_attribute("data-ready"))

    def rewrite(text: str) -> None:
        note.write_text(text, "utf-8")
        subprocess.run([ragchips, "index", str(docs), "--out", str(index)], check=True,
                       capture_output=True, timeout=120)  # fmt: skip

    def ask_again(driver: Any) -> Any:
        driver.find_element(By.ID, "source-close").click()
        driver.find_element(By.ID, "question").click()
        return ask_on_the_page(driver, question)

    question = "Où sera construit le projet Vormalix ?"
    with running_server(index, tmp_path / "server.log", server_env()) as url:
        driver = make_browser(tmp_path, 1280, 900)
        try:
            driver.get(url + "/")
            first = ask_on_the_page(driver, question)
            rewrite(
                "Mise à jour : le calendrier a changé. Le projet Vormalix sera construit à "
                "Lyon en 2029, après une nouvelle étude.\n"
            )
            # The first answer's citation: its span is not in the document any more.
            assert open_first_citation(driver, first) == "stale"
            assert "a changé" in driver.find_element(By.ID, "source-text").text
            # A new answer's citation: the new text, highlighted where the quote is.
            second = ask_again(driver)
            assert open_first_citation(driver, second) == "true"
            mark = driver.find_element(By.CSS_SELECTOR, "#source-text mark")
            assert "Lyon" in driver.execute_script("return arguments[0].textContent", mark)
            # The page keeps that document; after another change a new citation still
            # gets the new text, not the kept copy with the new offsets.
            rewrite("Le projet Vormalix, reporté, sera finalement construit à Annecy.\n")
            third = ask_again(driver)
            assert open_first_citation(driver, third) == "true"
            mark = driver.find_element(By.CSS_SELECTOR, "#source-text mark")
            assert "Annecy" in driver.execute_script("return arguments[0].textContent", mark)
            # Deleted since: the first citation says so and shows its passage as it was.
            (docs / "autre.txt").write_text("Les pommes sont récoltées en automne.\n", "utf-8")
            note.unlink()
            subprocess.run([ragchips, "index", str(docs), "--out", str(index)], check=True,
                           capture_output=True, timeout=120)  # fmt: skip
            driver.find_element(By.ID, "source-close").click()
            assert open_first_citation(driver, first) == "stale"
            shown = driver.find_element(By.ID, "source-text").text
            assert "indisponible" in shown and "Grenoble" in shown
        finally:
            driver.quit()
