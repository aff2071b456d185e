"""The generic heat-map renderer: shape checks, blank missing cells, determinism."""

from __future__ import annotations

import base64
import io

import pytest

from pytest_nnhealth.reporting.heatmap import heatmap_figure


def _pixels(uri: str):
    from matplotlib import image

    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    return image.imread(io.BytesIO(base64.b64decode(uri[len(prefix) :])), "png")


def test_cells_take_the_colour_of_their_value_and_missing_cells_stay_blank():
    from matplotlib import colormaps

    values = [[0.0, 0.0, 0.0], [1.0, 1.0, None]]
    uri = heatmap_figure("entropy", ["l0.h0", "l0.h1"], [0, 2, 5], values)
    pixels = (_pixels(uri)[..., :3] * 255).round().astype(int)
    colours = {tuple(p) for p in pixels.reshape(-1, 3)}
    low = tuple(round(c * 255) for c in colormaps["viridis"](0.0)[:3])
    high = tuple(round(c * 255) for c in colormaps["viridis"](1.0)[:3])
    assert low in colours
    assert high in colours
    # The missing cell (last row, last column) is not painted: the page shows through.
    uri_full = heatmap_figure(
        "entropy", ["l0.h0", "l0.h1"], [0, 2, 5], [[0.0] * 3, [1.0] * 3]
    )
    full = (_pixels(uri_full)[..., :3] * 255).round().astype(int)
    assert _count(full, high) > _count(pixels, high) * 1.3


def _count(image, rgb) -> int:
    return int((image == rgb).all(axis=-1).sum())


def test_same_input_gives_identical_png():
    args = ("load", ["e0", "e1"], [0, 1], [[0.5, 0.7], [0.1, 0.2]])
    assert heatmap_figure(*args) == heatmap_figure(*args)


@pytest.mark.parametrize(
    ("labels", "steps", "values", "message"),
    [
        (["a", "b"], [0], [[1.0]], "1 value rows for 2 row labels"),
        (["a"], [0, 1], [[1.0]], "row 'a' has 1 values for 2 steps"),
    ],
)
def test_mis_shaped_matrix_is_a_value_error(labels, steps, values, message):
    with pytest.raises(ValueError, match=message):
        heatmap_figure("t", labels, steps, values)


def test_empty_matrix_renders_a_placeholder():
    assert heatmap_figure("nothing", [], [], []).startswith("data:image/png;base64,")


def test_many_rows_keep_a_bounded_height():
    labels = [f"layer{i}.head{j}" for i in range(12) for j in range(12)]
    values = [[float(i)] * 4 for i in range(len(labels))]
    pixels = _pixels(heatmap_figure("144 heads", labels, [0, 1, 2, 3], values))
    assert pixels.shape[0] < 1300
