"""matplotlib views of what the network sees: heatmaps, PAFs, peaks and people.

The package is split by subject — ``fields`` (image, heatmaps, PAFs, stages, peaks), ``people``
(keypoints, skeletons, trajectories), ``grouping``, ``line_integral`` and ``grouping_zoom`` (the
PAF grouping's decisions from a ``posekit.paf_trace.GroupingTrace``), ``training``, ``timings``,
``compare`` (models side by side), ``accuracy`` (OKS, matches to human labels, AP step by step,
keypoint errors) and ``tables`` — and every public name is available as ``posekit.plot.X``, with
the grouping's tables (``posekit.paf_trace_tables``) and ``Table`` (``posekit.table``), which need
no matplotlib. Colours come from a
``posekit.draw.DrawingSpec`` (``DEFAULT_SPEC``), as in the OpenCV drawings.

Conventions shared by every function here:

* Images in are **BGR uint8 (H, W, 3)** (or gray (H, W)), as OpenCV reads them; they are
  converted to RGB for display.
* Plots are drawn in **original-image pixel coordinates** (x right, y down). A field pixel
  (col, row) of an (H, W, C) heatmap or PAF lies at image pixel (col / W * width,
  row / H * height), the mapping ``fields_to_people`` uses for keypoints, so peaks and
  keypoints sit exactly on the heatmap maxima they came from.
* Single-panel functions take ``ax=`` (an Axes to draw into) and return the Axes;
  multi-panel functions take ``fig=`` (a Figure to fill) and return the Figure. Without
  them a new pyplot figure is made, 10 inches wide. Passing a ``matplotlib.figure.Figure``
  built without pyplot (as ``posekit.widgets`` does) keeps the figure out of notebook output.
* Tables (``keypoints_table``) are small ``Table`` objects that print as text and show as
  HTML in Jupyter; there is no pandas dependency.

matplotlib is imported on first use; without it these functions raise an ImportError with
the install hint.
"""

from __future__ import annotations

from ..paf_trace_tables import (
    assembly_table,
    candidate_kinds,
    candidates_table,
    limb_summary,
    matching_comparison,
    matching_table,
    optimal_matching,
    partial_people_table,
    person_connections,
    rows_table,
    trace_people,
)
from ..table import Table
from ._base import (
    FIGURE_WIDTH,
    HEATMAP_CMAP,
    PAF_CMAP,
    channel_title,
    field_extent,
    heatmap_channel,
    people_box,
    show_image,
    to_rgb,
)
from .accuracy import (
    failures,
    plot_failures,
    plot_keypoint_errors,
    plot_matches,
    plot_modes,
    plot_oks_tolerance,
    plot_precision_recall,
)
from .compare import MODEL_COLORS, plot_channel_ranges, plot_models_side_by_side
from .fields import (
    compare_stages,
    peak_list,
    show_heatmap_channels,
    show_heatmap_overlay,
    show_paf_arrows,
    show_paf_components,
    show_peaks,
)
from .grouping import (
    GREY,
    plot_assembly,
    plot_limb_candidates,
    plot_partial_people,
    plot_peak_ids,
    plot_person_connections,
    plot_trace_vs_people,
)
from .grouping_zoom import MIN_ZOOM, limb_zoom, people_zoom, rows_zoom
from .line_integral import plot_line_integral, plot_paf_samples, plot_sample_dots
from .people import plot_keypoints_scatter, plot_people, plot_trajectories
from .tables import keypoints_table, people_distance_table
from .timings import plot_speed_comparison, plot_timings
from .training import plot_cost_vs_people, plot_loss_curves, plot_stage_losses, plot_targets_vs_maps

__all__ = [
    "HEATMAP_CMAP",
    "PAF_CMAP",
    "FIGURE_WIDTH",
    "MODEL_COLORS",
    "Table",
    "GREY",
    "MIN_ZOOM",
    "assembly_table",
    "candidate_kinds",
    "candidates_table",
    "failures",
    "plot_failures",
    "plot_keypoint_errors",
    "plot_matches",
    "plot_modes",
    "plot_oks_tolerance",
    "plot_precision_recall",
    "limb_summary",
    "limb_zoom",
    "matching_comparison",
    "matching_table",
    "optimal_matching",
    "partial_people_table",
    "people_zoom",
    "person_connections",
    "plot_assembly",
    "plot_limb_candidates",
    "plot_line_integral",
    "plot_paf_samples",
    "plot_partial_people",
    "plot_peak_ids",
    "plot_person_connections",
    "plot_sample_dots",
    "plot_trace_vs_people",
    "rows_table",
    "rows_zoom",
    "trace_people",
    "channel_title",
    "compare_stages",
    "field_extent",
    "heatmap_channel",
    "keypoints_table",
    "peak_list",
    "people_box",
    "people_distance_table",
    "plot_keypoints_scatter",
    "plot_models_side_by_side",
    "plot_channel_ranges",
    "plot_people",
    "plot_speed_comparison",
    "plot_timings",
    "plot_trajectories",
    "plot_cost_vs_people",
    "plot_loss_curves",
    "plot_stage_losses",
    "plot_targets_vs_maps",
    "show_heatmap_channels",
    "show_heatmap_overlay",
    "show_image",
    "show_paf_arrows",
    "show_paf_components",
    "show_peaks",
    "to_rgb",
]
