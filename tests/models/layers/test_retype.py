"""retype_layers turns exactly the plain class into a stateless subclass, in place."""
import pytest
from torch import nn

from m2f_mm.models.layers.retype import retype_layers


class _Ours(nn.Linear):
    pass


def test_only_the_plain_class_changes_and_keeps_its_state():
    class Subclass(nn.Linear):
        pass
    module = nn.Sequential(nn.Linear(2, 3), Subclass(3, 3), nn.Sequential(nn.Linear(3, 1)))
    weight, keys = module[0].weight, list(module.state_dict())
    assert retype_layers(module, nn.Linear, _Ours) == 2
    assert [type(m) for m in (module[0], module[1], module[2][0])] == [_Ours, Subclass, _Ours]
    assert module[0].weight is weight and list(module.state_dict()) == keys


def test_a_class_that_is_no_subclass_is_refused():
    with pytest.raises(TypeError, match='does not subclass Conv2d'):
        retype_layers(nn.Linear(1, 1), nn.Conv2d, _Ours)
