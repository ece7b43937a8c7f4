"""Sweep grids: ``--grid KEY=V1,V2`` parsed by the config's own types, and bad grids as clear errors."""

import pytest

from optical.config import grid_points, parse_grid
from optical.errors import InputError


def test_grid_values_are_parsed_by_the_config_types():
    grid = parse_grid(["ot.reg=0.01,0.2", "bitext_pairs=50,all", "ot.cost=cosine,sqeuclidean"])
    assert grid == {"ot.reg": [0.01, 0.2], "bitext_pairs": [50, None], "ot.cost": ["cosine", "sqeuclidean"]}
    assert all(isinstance(v, float) for v in grid["ot.reg"])
    points = grid_points(grid)
    assert len(points) == 8 and points[0] == {"ot.reg": 0.01, "bitext_pairs": 50, "ot.cost": "cosine"}
    # "all" means "no value" only where the field allows None: a string setting takes it as itself
    assert parse_grid(["ot.tokens=all,content"]) == {"ot.tokens": ["all", "content"]}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("ot.regg=0.1", "unknown key 'ot.regg'; expected one of ['ot.reg'"),
        ("epsilon=0.1", "unknown key 'epsilon'"),
        ("ot=0.1", "a section; sweep one of its fields"),
        ("ot.reg=0.1,abc", "--grid ot.reg=abc: expected a number"),
        ("bitext_pairs=50,1.5", "--grid bitext_pairs=1.5: expected an integer or 'all'"),
        ("ot.reg=all", "ot.reg needs a value"),
        ("seed=0,1", "cannot be swept (the seeds are --seeds)"),
        ("languages=de", "cannot be swept"),
        ("ot.reg", "expected KEY=V1,V2"),
        ("ot.reg=0.1,0.1", "a value is repeated"),
    ],
)
def test_bad_grids_are_clear_errors(spec, message):
    with pytest.raises(InputError, match=None) as err:
        parse_grid([spec])
    assert message in str(err.value)
