"""Notebook 15 in a real browser: Run All, then drag the GroupingExplorer's sliders and see the figure change.

Screenshots are saved under out/browser/ (15-*.png).
"""

from __future__ import annotations

import re

import pytest

from .lab import Notebook, differ
from .test_lab import RUN_TIMEOUT, _by_css, _drag, _wait_change, _wait_css

pytestmark = [pytest.mark.slow]


def _limb_shown(driver) -> int:
    """The limb number the explorer's status line names ("limb 4 LShoulder-LElbow: ...")."""
    text = _by_css(driver, ".posekit-grouping")[0].text
    match = re.search(r"^limb (\d+) \S+: \d+ candidates?", text, re.M)
    assert match, f"no status line in the explorer: {text!r}"
    return int(match.group(1))


def test_notebook_15_grouping_explorer_sliders_change_the_figure(driver, lab):
    nb = Notebook(driver, lab, "15_PAF_Grouping_Step_by_Step.ipynb")
    nb.run_all()
    nb.wait_until_done(RUN_TIMEOUT)
    nb.screenshot("15-after-run-all")
    assert nb.errors() == []
    text = nb.text_of_outputs()
    assert "keypoints equal: True" in text and "scores equal:    True" in text

    view = _wait_css(nb, ".posekit-grouping-view", 60, "the GroupingExplorer figure")[0]
    explorer = _by_css(driver, ".posekit-grouping")[0]
    nb.shoot_element(explorer, "15-grouping")
    # the figure sits beside the controls, not below them
    controls = _by_css(driver, ".posekit-grouping .widget-slider")[0]
    assert view.location["x"] > controls.location["x"] + controls.size["width"] - 5
    assert view.location["y"] < controls.location["y"] + controls.size["height"]
    before = nb.shoot_element(view, "15-grouping-view-0")
    limb_before = _limb_shown(driver)

    handles = _by_css(driver, ".posekit-grouping .widget-slider .noUi-handle")
    assert len(handles) == 5, "the limb slider and four threshold sliders should be on the page"

    # 1. the limb slider, dragged to the right: a later limb, another picture
    _drag(driver, handles[0], 90)
    after = _wait_change(nb, view, before, "15-grouping-view-1-limb")
    assert differ(before, after), "dragging the limb slider did not change the figure"
    limb_after = _limb_shown(driver)
    assert limb_after > limb_before, (limb_before, limb_after)

    # 2. human_score_threshold, dragged to the right: the ball's weak row is dropped, and the figure
    #    shows it (a red cross and its reason), not only the summary line
    before = after
    _drag(driver, handles[4], 60)
    after = _wait_change(nb, view, before, "15-grouping-view-2-human-score")
    assert differ(before, after), "dragging human_score_threshold did not change the figure"
    nb.wait_for(
        "return document.querySelector('.posekit-grouping').textContent.includes('low score')",
        30,
        "the summary to count a row dropped for a low score",
    )

    # 3. vector_count_threshold, dragged to its maximum: no candidate passes, nobody is left
    summary_before = explorer.text
    before = after
    _drag(driver, handles[3], 300)
    after = _wait_change(nb, view, before, "15-grouping-view-3-count")
    assert differ(before, after), "dragging vector_count_threshold did not change the figure"
    nb.wait_for(
        "return document.querySelector('.posekit-grouping').textContent.includes('0 people')",
        30,
        "the summary to report 0 people",
    )
    assert explorer.text != summary_before
    nb.shoot_element(explorer, "15-grouping-after")


def test_notebook_15_explorer_fits_a_1280_px_window(driver, lab):
    """At 1280 x 800: slider tracks wide enough to aim, the candidate table whole, the zoomed figure
    above the fold."""
    driver.set_window_size(1280, 800)
    nb = Notebook(driver, lab, "15_PAF_Grouping_Step_by_Step.ipynb")
    nb.run_all()
    nb.wait_until_done(RUN_TIMEOUT)
    assert nb.errors() == []
    _wait_css(nb, ".posekit-grouping-view", 60, "the GroupingExplorer figure")
    tracks = nb.js(
        "return [...document.querySelectorAll('.posekit-grouping .widget-slider .noUi-target')]"
        ".map(t => t.getBoundingClientRect().width);"
    )
    assert len(tracks) == 5 and min(tracks) >= 200, f"slider tracks {tracks} px wide"
    table = nb.js(
        "const t = document.querySelector('.posekit-grouping table');"
        "const ui = document.querySelector('.posekit-grouping');"
        "const r = t.getBoundingClientRect(), u = ui.getBoundingClientRect();"
        "return [r.right, u.right, t.innerText];"
    )
    assert table[0] <= table[1], (
        f"the candidate table ends at {table[0]:.0f} px, the explorer at {table[1]:.0f}"
    )
    assert "matching" in table[2] and "rank" in table[2]
    zoom = next(
        c for c in _by_css(driver, ".posekit-grouping .widget-checkbox") if "Zoom" in c.text
    ).find_element("css selector", "input")
    view = _by_css(driver, ".posekit-grouping-view")[0]
    before = nb.shoot_element(view, "15-1280-view")
    zoom.click()
    _wait_change(nb, view, before, "15-1280-view-zoom")
    fold = nb.js(
        "const v = document.querySelector('.posekit-grouping-view');"
        "v.closest('.posekit-grouping').scrollIntoView({block: 'start'});"
        "const r = v.getBoundingClientRect(); return [r.bottom, window.innerHeight];"
    )
    assert fold[0] <= fold[1], f"the zoomed figure ends {fold[0] - fold[1]:.0f} px below the fold"
    nb.shoot_element(_by_css(driver, ".posekit-grouping")[0], "15-1280-explorer")
