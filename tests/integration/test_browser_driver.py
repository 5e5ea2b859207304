"""The test browser driver's click on a page that moves under the pointer (no broker: a page written by the test)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator

import pytest

from browser import Browser, Page

PAGE = """<!doctype html><html><body style="margin:0">
<div id="list">
  <button id="target" style="display:block;width:300px;height:40px">target</button>
  <button id="below" style="display:block;width:300px;height:40px">below</button>
</div>
<script>
  window.got = [];
  for (const button of document.querySelectorAll("button")) button.addEventListener("click", () => got.push(button.id));
  /** What a live list does: a row arrives above the one the officer is pointing at, and pushes it down. */
  window.arrive = () => {
    const row = document.createElement("button");
    row.id = "arrived";
    row.style.cssText = "display:block;width:300px;height:40px";
    row.addEventListener("click", () => got.push(row.id));
    document.querySelector("#list").prepend(row);
  };
</script></body></html>"""


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    page = browser.new_page()
    page.goto("data:text/html," + urllib.parse.quote(PAGE))
    yield page
    page.send("Page.close")


def test_a_click_aimed_at_an_element_that_moved_is_swallowed_and_aimed_again(page: Page, monkeypatch: pytest.MonkeyPatch) -> None:
    aim, moves = page._aim, [True]

    def aim_then_the_page_moves(selector: str) -> tuple[float, float]:
        point = aim(selector)
        if moves.pop() if moves else False:
            page.evaluate("arrive()")
        return point

    monkeypatch.setattr(page, "_aim", aim_then_the_page_moves)
    page.click("#target")
    assert page.evaluate("got") == ["target"]  # the row that slid under the pointer got nothing
    assert [line.rsplit(": ", 1)[1] for line in page.clicks] == ["moved", "hit"]


def test_a_covered_element_does_not_get_the_click_and_what_covers_it_does(page: Page) -> None:
    page.evaluate(
        """(() => { const cover = document.createElement("div"); const r = target.getBoundingClientRect();
        cover.style.cssText = `position:fixed;left:${r.left}px;top:${r.top}px;width:${r.width}px;height:${r.height}px`;
        cover.addEventListener("click", () => got.push("cover")); document.body.append(cover); })()"""
    )
    page.click("#target")
    assert page.evaluate("got") == ["cover"]
    assert page.clicks[-1].endswith(": covered")


def test_a_disabled_element_gets_no_click_and_is_not_clicked_again(page: Page) -> None:
    page.evaluate("target.disabled = true")
    page.click("#target")
    assert page.evaluate("got") == []
    assert len(page.clicks) == 1 and page.clicks[0].endswith(": none")


def test_an_element_that_keeps_moving_is_reported(page: Page, monkeypatch: pytest.MonkeyPatch) -> None:
    aim = page._aim

    def aim_then_the_page_moves(selector: str) -> tuple[float, float]:
        point = aim(selector)
        page.evaluate("arrive()")
        return point

    monkeypatch.setattr(page, "_aim", aim_then_the_page_moves)
    with pytest.raises(Exception, match="moved away from the pointer 5 times"):
        page.click("#target")
    assert page.evaluate("got") == []


def test_a_wait_that_times_out_says_what_the_page_announced_and_where_the_clicks_landed(page: Page) -> None:
    page.evaluate(
        """(() => { const status = document.createElement("p"); status.id = "message"; status.setAttribute("role", "status");
        status.textContent = "Could not acknowledge: the desk is unreachable"; document.body.append(status); })()"""
    )
    page.click("#below")
    with pytest.raises(TimeoutError) as raised:
        page.wait_for("window.acknowledged === true", timeout=0.3)
    assert "#message: Could not acknowledge: the desk is unreachable" in str(raised.value)
    assert "#below at (" in str(raised.value) and ": hit" in str(raised.value)
